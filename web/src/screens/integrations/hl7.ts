import { api, ok } from '../../app/api';

export type Hl7Message = Awaited<ReturnType<typeof loadMessage>>;
export type QueueStatus = 'error' | 'replayed' | 'discarded';

export const loadMessage = (id: string) => ok(api.GET('/v1/hl7/errors/{id}', { params: { path: { id } } }));

export const loadQueue = (status: QueueStatus, cursor?: string) =>
  ok(api.GET('/v1/hl7/errors', { params: { query: { status, limit: 50, ...(cursor ? { cursor } : {}) } } }));

/** Where in the message the error was found, as the CLI writes it: `PID-3`, `OBX`, or nothing. */
export function position(m: { segment: string | null; field: number | null }): string {
  if (!m.segment) return '—';
  return `${m.segment}${m.field ? `-${m.field}` : ''}`;
}

export const statusTone = (s: string) =>
  s === 'error' ? 'bad' : s === 'replayed' || s === 'applied' ? 'ok' : s === 'discarded' ? 'neutral' : 'warn';
