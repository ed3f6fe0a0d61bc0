import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { cli } from '../helpers/sealpost-cli.js';

const db = (h: Harness) => new Sqlite(join(h.dataDir, 'sealpost.db'), { readonly: true });
const keyIdsInUse = (h: Harness) => {
  const d = db(h);
  try {
    return Object.fromEntries(
      (
        d.prepare('select key_id, count(*) n from data_keys group by key_id').all() as { key_id: string; n: number }[]
      ).map((r) => [r.key_id, r.n]),
    );
  } finally {
    d.close();
  }
};

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

async function seed(h: Harness, from: number, count: number) {
  for (let i = from; i < from + count; i += 20) {
    const rs = await Promise.all(
      Array.from({ length: Math.min(20, from + count - i) }, (_, j) =>
        h.request('PUT', `/v1/patients/p${i + j}`, samplePatient()),
      ),
    );
    expect(rs.map((r) => r.status).filter((s) => s !== 201)).toEqual([]);
  }
}

describe('sealpost keys rotate (local keyring, real CLI processes)', () => {
  it('re-wraps every data key while the server keeps creating and reading patients, then retires the old KEK', async () => {
    // No data-key cache: every read below really unwraps through the key provider.
    h = await startSealpost({ SEALPOST_KEY_REFRESH_SECONDS: '1', SEALPOST_DATA_KEY_CACHE_MAX: '0' });
    const env = { SEALPOST_DATA_DIR: h.dataDir };
    await seed(h, 0, 120);
    const [oldKey] = Object.keys(keyIdsInUse(h));
    let stop = false;
    let created = 0;
    let busy = 0;
    const traffic = (async () => {
      // A 503 SP_STORE_UNAVAILABLE is the documented "retry" answer when SQLite is busy with another
      // process's commit; anything else (a 500 from an unreadable key) fails the test.
      const retrying = async (method: string, path: string, body?: unknown) => {
        for (;;) {
          const r = await h!.request(method, path, body);
          if (r.status === 500)
            console.log(
              '500 during rotation',
              r.text,
              readFileSync(h!.logFile, 'utf8')
                .split('\n')
                .filter((l) => l.includes('"level":50'))
                .slice(-3)
                .join('\n'),
            );
          if (r.status !== 503) return r.status;
          busy++;
        }
      };
      for (let i = 1000; !stop; i++) {
        expect([
          await retrying('PUT', `/v1/patients/p${i}`, samplePatient()),
          await retrying('GET', `/v1/patients/p${i % 120}`),
        ]).toEqual([201, 200]);
        created++;
      }
    })();
    const r = await cli(env, ['keys', 'rotate', '--batch', '10', '--progress']);
    expect([r.code, r.stderr.slice(-300)]).toEqual([0, expect.any(String)]);
    expect(r.stderr).toMatch(/re-wrapping data keys \[#+\] \d+\/\d+ \(100%\)/);
    const newKey = /new current key (\S+)/.exec(r.stdout)![1]!;
    // The server picks the new version up by itself: patients it creates now are wrapped under it.
    await eventually(async () => {
      await h!.request('PUT', '/v1/patients/probe', samplePatient());
      const d = db(h!);
      try {
        return (
          (d.prepare("select key_id from data_keys where patient_id = 'probe'").get() as { key_id: string }).key_id ===
          newKey
        );
      } finally {
        d.close();
      }
    }, 'the server to wrap under the new KEK');
    stop = true;
    await traffic;
    expect(created).toBeGreaterThan(0);
    console.log(`traffic during rotation: ${created} create+read pairs, ${busy} busy retries`);
    // Rows a node wrote under the old key before it noticed the rotation: a second run finishes them.
    if (keyIdsInUse(h)[oldKey!]) expect((await cli(env, ['keys', 'rotate'])).stderr).toContain('resuming');
    expect(Object.keys(keyIdsInUse(h))).toEqual([newKey]);
    const retire = await cli(env, ['keys', 'retire', oldKey!]);
    expect([retire.code, retire.stdout]).toEqual([0, expect.stringContaining(`destroyed ${oldKey}`)]);
    for (const id of ['p0', 'p119', 'p1000', 'probe'])
      expect((await h.request('GET', `/v1/patients/${id}`)).status).toBe(200);
    const list = (await cli(env, ['keys', 'list', '--json'])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(list.filter((k) => k.purpose === 'kek').map((k) => [k.keyId, k.status])).toEqual([[newKey, 'current']]);
    // Every step is on the record, with ids and counts only.
    const d = db(h);
    const actions = d.prepare("select action, entry from audit_entries where action like 'key.%'").all() as {
      action: string;
      entry: string;
    }[];
    d.close();
    expect(new Set(actions.map((a) => a.action))).toEqual(
      new Set(['key.keyring_created', 'key.rotated', 'key.data_keys_rewrapped', 'key.destroyed']),
    );
  }, 180_000);

  it('refuses to retire a key that is current or still wraps data keys, and changes nothing', async () => {
    h = await startSealpost();
    const env = { SEALPOST_DATA_DIR: h.dataDir };
    await seed(h, 0, 3);
    const [oldKey] = Object.keys(keyIdsInUse(h));
    const current = await cli(env, ['keys', 'retire', oldKey!]);
    expect([current.code, current.stderr]).toEqual([1, expect.stringContaining('SP_CRYPTO_KEY_IN_USE')]);
    const unknown = await cli(env, ['keys', 'retire', 'local:kek:default:v9:00000000']);
    expect([unknown.code, unknown.stderr]).toEqual([1, expect.stringContaining('SP_CRYPTO_KEY_UNKNOWN')]);
    expect(keyIdsInUse(h)).toEqual({ [oldKey!]: 3 });
    expect((await h.request('GET', '/v1/patients/p1')).status).toBe(200);
  }, 60_000);

  it('a rotation killed with SIGKILL half-way finishes when run again, and everything still decrypts', async () => {
    h = await startSealpost({ SEALPOST_DATA_KEY_CACHE_MAX: '0' });
    const env = { SEALPOST_DATA_DIR: h.dataDir };
    // Many more rows than the kill threshold: the progress line reaches this process late when the
    // machine is busy, and the rotation must still be far from done when the kill lands.
    await seed(h, 0, 600);
    const [oldKey] = Object.keys(keyIdsInUse(h));
    const killed = await cli(env, ['keys', 'rotate', '--batch', '2', '--progress'], (err, kill) => {
      const m = /(\d+)\/(\d+) \(/.exec(err.split('\r').at(-1) ?? '');
      if (m && Number(m[1]) >= 10) kill();
    });
    expect(killed.signal).toBe('SIGKILL');
    const half = keyIdsInUse(h);
    expect(Object.keys(half)).toHaveLength(2);
    expect(half[oldKey!]).toBeGreaterThan(0);
    const again = await cli(env, ['keys', 'rotate']);
    expect([again.code, again.stderr]).toEqual([0, expect.stringContaining('resuming')]);
    const [, newKey] = Object.keys(half).sort((a, b) => (a === oldKey ? -1 : b === oldKey ? 1 : 0));
    expect(keyIdsInUse(h)).toEqual({ [newKey!]: 600 });
    expect((await cli(env, ['keys', 'retire', oldKey!])).code).toBe(0);
    for (let i = 0; i < 600; i += 120) expect((await h.request('GET', `/v1/patients/p${i}`)).status).toBe(200);
  }, 180_000);

  it('re-indexes contact points under a new blind-index key; a patient updated mid-way keeps its contact points', async () => {
    h = await startSealpost({ SEALPOST_KEY_REFRESH_SECONDS: '1' });
    const env = { SEALPOST_DATA_DIR: h.dataDir };
    await seed(h, 0, 100);
    const contacts = () => {
      const d = db(h!);
      try {
        return d.prepare('select id, value_bidx from contact_points order by id').all() as {
          id: string;
          value_bidx: string;
        }[];
      } finally {
        d.close();
      }
    };
    // A patient account's sign-in contact is a blind index too: it must survive the rotation and the retirement.
    const signIn = { system: 'email', value: 'account.holder@example.com' };
    expect((await h.request('PUT', '/v1/patients/holder', samplePatient({ telecom: [signIn] }))).status).toBe(201);
    const account = (await h.request('POST', '/v1/patients/holder/account', { contact: signIn })).body.id as string;
    const before = contacts();
    const killed = await cli(
      env,
      ['keys', 'rotate', '--what', 'blind-index', '--batch', '1', '--progress'],
      (err, kill) => {
        const m = /(\d+)\/(\d+) \(/.exec(err.split('\r').at(-1) ?? '');
        // Small batches and an early kill: on a busy machine this process reads the progress late, and
        // the rotation must still be under way when the kill lands.
        if (m && Number(m[1]) >= 10) kill();
      },
    );
    expect([killed.signal, killed.stderr.slice(-300)]).toEqual(['SIGKILL', expect.any(String)]);
    const mid = contacts();
    expect(mid.some((c) => c.value_bidx.startsWith('v2:'))).toBe(true);
    const notYet = mid.filter((c) => !c.value_bidx.startsWith('v2:'));
    expect(notYet.length).toBeGreaterThan(0);
    let flip = 0;
    // Same telecom again: matched under the old index form, so ids stay (pending deliveries point at them).
    // The language alternates between two supported ones so that every PUT is a real change, not a replay.
    const stale = (await eventually(async () => {
      const d = db(h!);
      try {
        return d.prepare("select patient_id from contact_points where value_bidx not like 'v2:%' limit 1").get() as
          { patient_id: string } | undefined;
      } finally {
        d.close();
      }
    }, 'a contact point not yet re-indexed'))!;
    await eventually(
      async () =>
        (
          await h!.request(
            'PUT',
            `/v1/patients/${stale.patient_id}`,
            samplePatient({ language: ++flip % 2 ? 'es' : 'en' }),
          )
        ).status === 200 && contacts().filter((c) => !c.value_bidx.startsWith('v2:')).length < notYet.length,
      'the server to see the new blind-index version',
      60_000,
    );
    expect(contacts().map((c) => c.id)).toEqual(before.map((c) => c.id));
    const again = await cli(env, ['keys', 'rotate', '--what', 'blind-index']);
    expect([again.code, again.stderr]).toEqual([0, expect.stringContaining('resuming')]);
    expect(contacts().every((c) => c.value_bidx.startsWith('v2:'))).toBe(true);
    const v1 = (await cli(env, ['keys', 'list', '--json'])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((k) => k.purpose === 'blind-index' && k.version === 1);
    expect((await cli(env, ['keys', 'retire', v1.keyId])).code).toBe(0);
    expect(contacts().map((c) => c.id)).toEqual(before.map((c) => c.id));
    await h.request('PUT', '/v1/patients/p3', samplePatient());
    expect(contacts().map((c) => c.id)).toEqual(before.map((c) => c.id));
    const d = db(h);
    const accountIndex = (
      d.prepare('select contact_bidx from patient_accounts where id = ?').get(account) as { contact_bidx: string }
    ).contact_bidx;
    d.close();
    expect(accountIndex.startsWith('v2:')).toBe(true);
    expect((await h.request('POST', '/v1/patient-auth/start', { contact: signIn })).status).toBe(202);
    await eventually(
      async () =>
        (await h!.request('GET', '/v1/dev/outbox?limit=500')).body.items.some((i: { deliveryId: string }) =>
          i.deliveryId.startsWith(`potp-${account}-`),
        ),
      'a sign-in code for the account after the old index key is gone',
    );
  }, 180_000);
});
