import { raw } from '../../app/api';

export const TYPES = [
  'appointment_reminder',
  'test_result_ready',
  'medication_reminder',
  'prescription_ready',
  'follow_up',
  'billing_statement',
] as const;

export const STATUSES = [
  'scheduled',
  'queued',
  'sending',
  'sent',
  'delivered',
  'read',
  'acknowledged',
  'cancelled',
  'suppressed',
  'failed',
  'dead',
] as const;

/** The permission a type needs, as the server decides it (auth/permissions.ts): people read the types they may send. */
export function typePermission(type: string): string {
  if (type === 'appointment_reminder') return 'notification.create.scheduling';
  if (type === 'billing_statement') return 'notification.create.billing';
  return 'notification.create.clinical';
}

export interface ListItem {
  id: string;
  type: string;
  priority: string;
  status: string;
  patientId: string;
  channels: string[];
  sendAt: string;
  createdAt: string;
}

export interface Filter {
  patientId?: string;
  type?: string;
  status?: string;
  /** yyyy-mm-dd, local day */
  from?: string;
  to?: string;
}

/** The local day's start as an ISO instant (a `to` day is inclusive for people: its end is the next day's start). */
function dayStart(day: string, plus = 0): string {
  const d = new Date(`${day}T00:00:00`);
  d.setDate(d.getDate() + plus);
  return d.toISOString();
}

/** GET /v1/notifications: the query carries opaque ids, codes and dates only, never what the person typed. */
export function searchNotifications(
  f: Filter,
  cursor?: string,
): Promise<{ items: ListItem[]; nextCursor: string | null }> {
  const q = new URLSearchParams({ limit: '25' });
  if (f.patientId) q.set('patientId', f.patientId);
  if (f.type) q.set('type', f.type);
  if (f.status) q.set('status', f.status);
  if (f.from) q.set('from', dayStart(f.from));
  if (f.to) q.set('to', dayStart(f.to, 1));
  if (cursor) q.set('cursor', cursor);
  return raw('GET', `/v1/notifications?${q}`);
}

export interface AuditItem {
  index: number;
  at: string;
  actor: string;
  action: string;
  outcome: string;
  target: { type: string; id: string | null } | null;
  details: Record<string, unknown> | null;
  leafHash: string;
}

export const auditTrail = (id: string): Promise<{ items: AuditItem[] }> =>
  raw('GET', `/v1/notifications/${encodeURIComponent(id)}/audit`);

export interface Proof {
  keyId: string;
  signature: string;
  fields: Record<string, unknown>;
  content?: { patientId: string; data: Record<string, unknown> };
  anchor?: { status: 'anchored'; index: number; treeSize: number; checkpoint: string } | { status: 'pending' };
}

/** The proof; with content it holds PHI and the server audits the read (`notification.proof_read`). */
export const proof = (id: string, content = false): Promise<Proof> =>
  raw('GET', `/v1/notifications/${encodeURIComponent(id)}/proof${content ? '?include=content' : ''}`);

export const statusTone = (s: string): 'ok' | 'warn' | 'bad' | 'neutral' =>
  ['delivered', 'read', 'acknowledged', 'sent'].includes(s)
    ? 'ok'
    : ['failed', 'dead'].includes(s)
      ? 'bad'
      : ['cancelled', 'suppressed'].includes(s)
        ? 'warn'
        : 'neutral';
