import { join } from 'node:path';
import { expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { EnvelopeCipher } from '../../src/crypto/envelope-cipher.js';
import { TemplateRegistry } from '../../src/core/templates/template-registry.js';
import { NotificationService } from '../../src/core/notification-service.js';
import { PatientService } from '../../src/core/patient-service.js';
import { AppError } from '../../src/core/errors.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { CoreDeps } from '../../src/core/context.js';
import { describeEachBackend, freshDatabases, migratedStore } from '../helpers/backends.js';
import { samplePatient } from '../helpers/sealpost-harness.js';

const ctx = { tenantId: 'default', actor: 'test' };
const body = (reason: string) => ({ type: 'follow_up', patientId: 'p1', data: { reason, dueDate: '2030-01-01' } });

describeEachBackend('idempotency keys under concurrent requests', (backend) => {
  const fresh = freshDatabases(backend);

  /** One NotificationService per node (PostgreSQL: three stores, three pools; SQLite: one node). */
  async function setup() {
    const db = await fresh({ prefix: 'sealpost-idem-', migrated: true });
    const config = loadConfig({ ...db.env, SEALPOST_QUIET_HOURS: 'off' });
    const { keyring } = LocalKeyring.openOrCreate(join(db.dataDir, 'keyring.json'));
    const cipher = new EnvelopeCipher(keyring);
    const first = await migratedStore(db);
    const stores = backend === 'postgres' ? [first, db.open(), db.open()] : [first];
    const nodes = stores.map((store) => {
      const deps: CoreDeps = {
        config,
        store,
        cipher,
        templates: TemplateRegistry.load(),
        clock: () => new Date(),
        newId: uuidv7,
        wake: () => {},
      };
      return new NotificationService(deps);
    });
    await first.read.tenants.ensure('default', 'x', Date.now());
    await new PatientService({
      config,
      store: first,
      cipher,
      templates: TemplateRegistry.load(),
      clock: () => new Date(),
      newId: uuidv7,
      wake: () => {},
    }).upsert(ctx, 'p1', samplePatient() as never);
    return { db, nodes };
  }

  it('creates one notification and gives every caller the same answer when the same key and body arrive at once', async () => {
    const { db, nodes } = await setup();
    const base = await db.rowCounts();
    const solo = await nodes[0].create(ctx, body('solo'), 'solo');
    const one = await db.rowCounts(); // what a single create writes
    for (const round of [1, 2, 3, 4, 5]) {
      const answers = await Promise.all(
        Array.from({ length: 6 }, (_, i) => nodes[i % nodes.length].create(ctx, body(`r${round}`), `key-${round}`)),
      );
      expect(answers.map((a) => a.status)).toEqual(Array(6).fill(202));
      expect(new Set(answers.map((a) => JSON.stringify(a.body))).size).toBe(1);
      expect(answers[0].body.id).not.toBe(solo.body.id);
    }
    const after = await db.rowCounts();
    // Five keys wrote exactly what five single creates write: nothing of a losing attempt remains.
    for (const t of ['notifications', 'deliveries', 'idempotency_keys', 'audit_entries'])
      expect(after[t] - one[t]).toBe(5 * (one[t] - base[t]));
  });

  it('answers one caller and refuses the other with SP_IDEMPOTENCY_KEY_REUSED when one key arrives with two bodies at once', async () => {
    const { db, nodes } = await setup();
    for (const round of [1, 2, 3, 4, 5]) {
      const settled = await Promise.allSettled([
        nodes[0].create(ctx, body(`a${round}`), `k${round}`),
        nodes[nodes.length - 1].create(ctx, body(`b${round}`), `k${round}`),
      ]);
      const ok = settled.filter((s) => s.status === 'fulfilled');
      const refused = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason] : []));
      expect(ok).toHaveLength(1);
      expect(refused).toHaveLength(1);
      expect(refused[0]).toBeInstanceOf(AppError);
      expect((refused[0] as AppError).code).toBe('SP_IDEMPOTENCY_KEY_REUSED');
    }
    const counts = await db.rowCounts();
    expect([counts.notifications, counts.idempotency_keys]).toEqual([5, 5]);
  });
});
