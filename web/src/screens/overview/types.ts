import type { paths } from '@sealpost/sdk/rest';

type Json<P extends keyof paths> = paths[P]['get'] extends {
  responses: { 200: { content: { 'application/json': infer T } } };
}
  ? T
  : never;

/** The answers of GET /v1/ops/deliveries/stats and /v1/ops/dead-letters, as the SDK's generated types give them. */
export type Stats = Json<'/v1/ops/deliveries/stats'>;
export type OpsWindow = Stats['window'];
export type DeadLetter = Json<'/v1/ops/dead-letters'>['items'][number];

export const STATUSES = [
  'scheduled',
  'queued',
  'sending',
  'sent',
  'delivered',
  'read',
  'failed',
  'dead',
  'cancelled',
  'suppressed',
] as const;
export const CHANNELS = ['sms', 'email', 'webhook', 'push'] as const;
