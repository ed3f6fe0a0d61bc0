/** GET /v1/ops/deliveries/stats (not in the generated SDK types yet). */
export type OpsWindow = 'hour' | 'day' | 'week';

export interface Count {
  status: string;
  channel: string;
  n: number;
}

export interface Stats {
  window: OpsWindow;
  from: string;
  to: string;
  bucketSeconds: number;
  buckets: { start: string; counts: Count[] }[];
  totals: Count[];
  failures: { code: string | null; channel: string; status: string; n: number }[];
  queue: {
    due: number;
    scheduled: number;
    sending: number;
    oldestDueAt: string | null;
    lagSeconds: number;
    byChannel: { channel: string; due: number; scheduled: number; sending: number }[];
  };
  providers: {
    channel: string;
    provider: string;
    mode: string;
    succeeded: number;
    failed: number;
    topErrorCode: string | null;
    health: 'idle' | 'ok' | 'degraded' | 'failing';
  }[];
  generatedAt: string;
}

export interface DeadLetter {
  id: string;
  notificationId: string;
  channel: string;
  provider: string | null;
  errorCode: string | null;
  attempts: number;
  createdAt: string;
  diedAt: string;
}

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
