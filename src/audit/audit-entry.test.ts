import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeAuditEntry } from './audit-entry.js';

const event = {
  tenantId: 'default',
  at: new Date('2026-11-25T10:00:00Z'),
  actor: 'api-key:0123456789abcdef',
  action: 'notification.created',
  outcome: 'success' as const,
  targetType: 'notification',
  targetId: 'n1',
  patientRef: 'abc',
  requestId: 'r1',
  details: { z: 1, a: ['x'] },
};

describe('audit entry encoding', () => {
  it('hashes the canonical entry as an RFC 9162 leaf: SHA-256(0x00 ‖ entry)', () => {
    const { entry, leafHash } = encodeAuditEntry(event);
    const expected = createHash('sha256')
      .update(Buffer.concat([Buffer.from([0]), Buffer.from(entry, 'utf8')]))
      .digest();
    expect(leafHash.equals(expected)).toBe(true);
  });

  it('is canonical (RFC 8785): key order in the input does not change the bytes', () => {
    const a = encodeAuditEntry(event).entry;
    const b = encodeAuditEntry({ ...event, details: { a: ['x'], z: 1 } }).entry;
    expect(a).toBe(b);
    expect(a.startsWith('{"action":"notification.created","actor"')).toBe(true);
  });

  it('changes the leaf hash when any field changes', () => {
    const base = encodeAuditEntry(event).leafHash;
    for (const change of [
      { outcome: 'failure' as const },
      { targetId: 'n2' },
      { at: new Date('2026-11-25T10:00:01Z') },
      { details: { z: 2, a: ['x'] } },
    ]) {
      expect(encodeAuditEntry({ ...event, ...change }).leafHash.equals(base)).toBe(false);
    }
  });
});
