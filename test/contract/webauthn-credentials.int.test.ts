import { expect, it } from 'vitest';
import { describeEachBackend, freshDatabases, migratedStore } from '../helpers/backends.js';

describeEachBackend('webauthn credentials', (backend) => {
  const fresh = freshDatabases(backend);

  it('store a credential id once: a second insert of the same id reports false instead of failing the transaction, and the first owner keeps it', async () => {
    const store = await migratedStore(await fresh({ migrated: true }));
    const now = 1_000;
    await store.transaction(async (tx) => {
      await tx.tenants.ensure('t', 'T', now);
      for (const id of ['u1', 'u2'])
        await tx.users.insert({
          id,
          tenant_id: 't',
          email: `${id}@x.test`,
          display_name: id,
          roles: 'nurse',
          status: 'active',
          password_hash: null,
          locked_until: null,
          sso_issuer: null,
          sso_subject: null,
          created_at: now,
          updated_at: now,
        });
    });
    const cred = (userId: string) => ({
      id: 'cred-1',
      tenant_id: 't',
      user_id: userId,
      public_key: new Uint8Array([1, 2, 3]),
      counter: 0,
      transports: 'usb',
      name: 'key',
      created_at: now,
      last_used_at: null,
    });
    expect(await store.transaction((tx) => tx.mfa.insertCredential(cred('u1')))).toBe(true);
    // The transaction goes on after the refused insert (a caught error would have aborted it on PostgreSQL).
    const after = await store.transaction(async (tx) => [
      await tx.mfa.insertCredential(cred('u2')),
      (await tx.mfa.credentials('t', 'u1')).length,
    ]);
    expect(after).toEqual([false, 1]);
    expect((await store.read.mfa.credentials('t', 'u2')).length).toBe(0);
  });
});
