import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../audit/audit-entry.js';
import { audit, type RequestContext } from './context.js';

const capture = async (ctx: RequestContext, e: Parameters<typeof audit>[3]): Promise<AuditEvent> => {
  let got: AuditEvent | undefined;
  await audit({ audit: { append: async (x: AuditEvent) => void (got = x) } } as never, ctx, new Date(0), e);
  return got!;
};

describe('audit(): what the request context adds to an entry', () => {
  const base: RequestContext = { tenantId: 't', actor: 'api-key:k1', requestId: 'r', sourceIp: '10.0.0.1' };

  it("adds the client certificate's thumbprint and the break-glass grant together, keeping the entry's own details", async () => {
    const e = await capture(
      { ...base, certThumbprint: 'abc_-', breakGlassGrants: { ref1: 'grant-1' } },
      { action: 'patient.read', patientRef: 'ref1', details: { fields: 2 } },
    );
    expect(e.details).toEqual({ fields: 2, breakGlass: 'grant-1', certThumbprint: 'abc_-' });
    expect(e).toMatchObject({ actor: 'api-key:k1', sourceIp: '10.0.0.1', outcome: 'success' });
  });

  it('leaves details alone when the request had neither', async () => {
    expect((await capture(base, { action: 'patient.read', patientRef: 'ref1' })).details).toBeUndefined();
    expect(
      (await capture({ ...base, breakGlassGrants: { other: 'g' } }, { action: 'x', details: { a: 1 } })).details,
    ).toEqual({
      a: 1,
    });
  });
});
