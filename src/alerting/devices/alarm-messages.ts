import { Ajv, type ValidateFunction } from 'ajv';
import { DEVICE_ID } from './medical-device-service.js';

/**
 * What devices publish, and where (docs/alerting-devices.md, "Topics" and "Messages"). Payloads are
 * UTF-8 JSON, validated strictly: unknown members, wrong types and oversized payloads are refused.
 */

/** Largest payload accepted on any device topic (an alarm is a few hundred bytes). */
export const MAX_PAYLOAD_BYTES = 4096;

/** A topic level Sealpost names (tenant, device, alarm id): no MQTT wildcards, no `$`, no `/`. */
const LEVEL = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

export type DeviceTopic =
  | { kind: 'alarm'; tenantId: string; deviceId: string }
  | { kind: 'cleared'; tenantId: string; deviceId: string; alarmId: string }
  | { kind: 'status'; tenantId: string; deviceId: string }
  | { kind: 'acks'; tenantId: string; deviceId: string };

/**
 * Parses `sealpost/<tenant>/devices/<deviceId>/alarms`, `…/alarms/<alarmId>/cleared`, `…/status` or
 * `…/acks`; null for anything else.
 */
export function parseDeviceTopic(topic: string): DeviceTopic | null {
  const p = topic.split('/');
  if (p.length < 5 || p[0] !== 'sealpost' || p[2] !== 'devices') return null;
  const tenantId = p[1]!;
  const deviceId = p[3]!;
  if (!LEVEL.test(tenantId) || !DEVICE_ID.test(deviceId)) return null;
  if (p.length === 5 && p[4] === 'alarms') return { kind: 'alarm', tenantId, deviceId };
  if (p.length === 5 && p[4] === 'status') return { kind: 'status', tenantId, deviceId };
  if (p.length === 5 && p[4] === 'acks') return { kind: 'acks', tenantId, deviceId };
  if (p.length === 7 && p[4] === 'alarms' && p[6] === 'cleared' && LEVEL.test(p[5]!))
    return { kind: 'cleared', tenantId, deviceId, alarmId: p[5]! };
  return null;
}

export const deviceTopicPrefix = (tenantId: string, deviceId: string) => `sealpost/${tenantId}/devices/${deviceId}`;

/** An alarm (`…/alarms`). `condition` is PHI-free (it reaches pagers); `value` is PHI (sealed in the alert's details). */
export interface AlarmMessage {
  alarmId: string;
  priority: 'high' | 'medium' | 'low';
  condition: string;
  observedAt: string;
  value?: string | number;
}

export interface StatusMessage {
  status: 'online' | 'offline';
}

/** A paging gateway's answer for a person (`…/acks`). */
export interface AckMessage {
  alertId: string;
  userId: string;
  action: 'acknowledge' | 'decline';
}

export const ALARM_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['alarmId', 'priority', 'condition', 'observedAt'],
  properties: {
    alarmId: { type: 'string', pattern: LEVEL.source },
    priority: { enum: ['high', 'medium', 'low'] },
    // A short code or text such as `SpO2 low` or `ASYSTOLE`: letters, digits, spaces and `._-%/`.
    condition: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9 ._%/-]{0,63}$' },
    observedAt: { type: 'string', format: 'date-time', maxLength: 40 },
    value: { anyOf: [{ type: 'string', maxLength: 256 }, { type: 'number' }] },
  },
} as const;

export const STATUS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['status'],
  properties: { status: { enum: ['online', 'offline'] } },
} as const;

export const ACK_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['alertId', 'userId', 'action'],
  properties: {
    alertId: { type: 'string', minLength: 1, maxLength: 100 },
    userId: { type: 'string', minLength: 1, maxLength: 100 },
    action: { enum: ['acknowledge', 'decline'] },
  },
} as const;

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const ajv = new Ajv({ strict: true, allErrors: false, coerceTypes: false, useDefaults: false });
ajv.addFormat('date-time', (s: string) => RFC3339.test(s) && !Number.isNaN(Date.parse(s)));
const validators = {
  alarm: ajv.compile(ALARM_SCHEMA) as ValidateFunction<AlarmMessage>,
  status: ajv.compile(STATUS_SCHEMA) as ValidateFunction<StatusMessage>,
  acks: ajv.compile(ACK_SCHEMA) as ValidateFunction<AckMessage>,
};

/** Why a payload was refused: `too_large`, `not_json` or `schema` (never the payload itself). */
export type PayloadProblem = 'too_large' | 'not_json' | 'schema';

export function readPayload<K extends keyof typeof validators>(
  kind: K,
  payload: Buffer | string,
):
  | { ok: true; value: (typeof validators)[K] extends ValidateFunction<infer T> ? T : never }
  | { ok: false; problem: PayloadProblem } {
  const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (bytes > MAX_PAYLOAD_BYTES) return { ok: false, problem: 'too_large' };
  let value: unknown;
  try {
    value = JSON.parse(payload.toString());
  } catch {
    return { ok: false, problem: 'not_json' };
  }
  if (!validators[kind](value)) return { ok: false, problem: 'schema' };
  return { ok: true, value: value as never };
}
