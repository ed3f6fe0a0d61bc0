import { randomBytes, createDecipheriv } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, page, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { createApiKey } from '../../src/auth/api-keys.js';
import { verifyAuditLog } from '../../src/audit/audit-verifier.js';
import type { EnvelopeCipher } from '../../src/crypto/envelope-cipher.js';

/**
 * The proof of crypto-shredding: after erasing patient A, the live database file, its WAL
 * and a backup taken before the erasure contain nothing of A that opens with any key that remains,
 * while B's data still does. Ciphertexts are tried with AES-256-CTR at every plausible IV offset (GCM
 * without its tag check): that ignores AAD and format headers, so it finds plaintext wherever any
 * remaining key would produce it, which is strictly more than the application could open.
 */

const tag = randomBytes(4).toString('hex');
const mark = (who: string, what: string) => `PHIMARK-${who}-${what}-${tag}`;
const patient = (who: string, hook: string) => ({
  name: { given: [mark(who, 'given')], family: mark(who, 'family') },
  birthDate: '1971-03-04',
  telecom: [
    { system: 'webhook', value: hook, rank: 1 },
    { system: 'email', value: `${mark(who, 'mail').toLowerCase()}@example.com`, rank: 2 },
  ],
  timeZone: 'Europe/Madrid',
});
const A = ['given', 'family', 'mail', 'reason'].map((w) => mark('A', w));
const B = ['given', 'family', 'mail', 'reason'].map((w) => mark('B', w));

const has = (buf: Buffer, needle: string) =>
  [needle, needle.toLowerCase()].some((n) => buf.includes(Buffer.from(n, 'utf8')));

/** Every blob of every table (what a reader of the file gets through SQLite). */
function blobs(file: string): { table: string; value: Buffer }[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const out: { table: string; value: Buffer }[] = [];
    for (const t of db.prepare("select name from sqlite_master where type = 'table'").pluck().all() as string[]) {
      for (const row of db.prepare(`select * from "${t}"`).raw().all() as unknown[][]) {
        for (const v of row) if (v instanceof Uint8Array && v.length) out.push({ table: t, value: Buffer.from(v) });
      }
    }
    return out;
  } finally {
    db.close();
  }
}

/** AES-256-GCM's keystream is CTR from IV||2: decrypts without the tag, whatever the AAD or header. */
function ctrOpenings(key: Buffer, ct: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off + 12 < ct.length && off <= 48; off++) {
    const iv = Buffer.concat([ct.subarray(off, off + 12), Buffer.from([0, 0, 0, 2])]);
    const d = createDecipheriv('aes-256-ctr', key, iv);
    out.push(Buffer.concat([d.update(ct.subarray(off + 12)), d.final()]));
  }
  return out;
}

describe('crypto-shredding proof: live file, WAL and an earlier backup', () => {
  let h: Harness;
  let hooks: Server;
  const received: { link?: string }[] = [];
  let backupFile: string;
  let rawCopy: Record<string, Buffer>;
  let aLink: string;
  let aNotification: string;

  beforeAll(async () => {
    const port = await freePort();
    hooks = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((r) => hooks.listen(port, '127.0.0.1', r));
    h = await startSealpost({ SEALPOST_WEBHOOK_PROVIDER: 'http', SEALPOST_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1' });
    const hook = (who: string) => `http://127.0.0.1:${port}/${who}`;
    expect((await h.request('PUT', '/v1/patients/pa', patient('A', hook('a')))).status).toBe(201);
    expect((await h.request('PUT', '/v1/patients/pb', patient('B', hook('b')))).status).toBe(201);
    let n = 0;
    const send = async (pid: string, who: string) =>
      (
        await h.request(
          'POST',
          '/v1/notifications',
          {
            type: 'follow_up',
            patientId: pid,
            channels: ['webhook'],
            data: { reason: mark(who, 'reason'), dueDate: '2031-05-01' },
          },
          { 'idempotency-key': `k-${++n}-${tag}` },
        )
      ).body;
    aNotification = (await send('pa', 'A')).id;
    await send('pb', 'B');
    await send('pa', 'A');
    await eventually(async () => received.length >= 3, 'three webhook deliveries');
    aLink = new URL(received.find((r) => r.link)!.link!).pathname;
    // A backup while the server runs: SQLite's online backup API, plus a raw copy of db + WAL + SHM.
    const live = join(h.dataDir, 'sealpost.db');
    backupFile = join(h.dataDir, 'backup-before-erasure.db');
    const src = new Database(live, { readonly: true });
    await src.backup(backupFile);
    src.close();
    rawCopy = Object.fromEntries(
      ['', '-wal', '-shm'].map((s) => [s, existsSync(live + s) ? readFileSync(live + s) : Buffer.alloc(0)]),
    );
    copyFileSync(live, join(h.dataDir, 'raw-copy.db'));
  }, 60_000);

  afterAll(async () => {
    await h?.close();
    hooks?.close();
  });

  it('refuses a DELETE without erase=true, a key without the erasure scope and an unknown id, changing nothing', async () => {
    const noErase = await h.request('DELETE', '/v1/patients/pa');
    expect([noErase.status, noErase.body.code]).toEqual([400, 'SP_PATIENT_ERASE_REQUIRED']);
    const auditOnly = await createApiKey(h.app.store, 'default', 'auditor', ['audit'], new Date());
    const forbidden = await h.request('DELETE', '/v1/patients/pa?erase=true', undefined, {
      authorization: `Bearer ${auditOnly}`,
    });
    expect([forbidden.status, forbidden.body.code]).toEqual([403, 'SP_AUTH_FORBIDDEN']);
    const unknown = await h.request('DELETE', '/v1/patients/nobody?erase=true');
    expect([unknown.status, unknown.body.code]).toEqual([404, 'SP_PATIENT_NOT_FOUND']);
    expect((await h.request('GET', '/v1/patients/pa')).status).toBe(200);
  });

  it('erases A: 202, then 410 with the shredding state for A and its notifications, and a plain gone page for its link', async () => {
    const r = await h.request('DELETE', '/v1/patients/pa?erase=true');
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ shredding: 'pending', counts: { notifications: 2 } });
    const gone = await h.request('GET', '/v1/patients/pa');
    expect([gone.status, gone.body.code]).toEqual([410, 'SP_PATIENT_ERASED']);
    expect(gone.body.shredding).toMatch(/^(pending|complete)$/);
    expect((await h.request('GET', `/v1/notifications/${aNotification}`)).status).toBe(410);
    const again = await h.request('DELETE', '/v1/patients/pa?erase=true');
    expect([again.status, again.body.code]).toEqual([410, 'SP_PATIENT_ERASED']);
    const portal = await page(h, aLink);
    expect(portal.status).toBe(410);
    expect(portal.text).toContain('no longer available');
    for (const m of [...A, ...B]) expect(has(Buffer.from(portal.text), m)).toBe(false);
    expect((await h.request('GET', '/v1/patients/pb')).body.name.family).toBe(mark('B', 'family'));
  });

  it('completes the shredding (tenant KEK rotated, old version destroyed) and the audit log still verifies', async () => {
    await eventually(
      async () => (await h.request('GET', '/v1/patients/pa')).body.shredding === 'complete',
      'shredding complete',
      60_000,
    );
    const keys = (h.app.services.patients as unknown as { deps: { cipher: EnvelopeCipher } }).deps.cipher.keys;
    const report = await verifyAuditLog(
      h.app.store.read.auditLog,
      h.app.config.audit.origin,
      keys.auditLogKey().publicKey,
      () => {},
    );
    expect(report.ok).toBe(true);
    // The erasure and its completion are on the record, found by the searches an auditor runs.
    const events = await h.request('GET', '/v1/audit/events?action=patient.*&limit=200');
    expect(events.status, events.text).toBe(200);
    const actions = (events.body.items as { action: string }[]).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['patient.erased', 'patient.erasure_completed']));
  });

  it('leaves nothing of A that opens with any remaining key in the live file, its WAL or the earlier backup, while B still opens', async () => {
    const live = join(h.dataDir, 'sealpost.db');
    const cipher = (h.app.services.patients as unknown as { deps: { cipher: EnvelopeCipher } }).deps.cipher;
    const keys = cipher.keys as unknown as {
      listKeys(): { keyId: string; purpose: string; tenantId: string | null }[];
      unwrapDataKey(t: string, keyId: string, w: Buffer, aad: string): Promise<Buffer>;
      macKey(p: string): Buffer;
    };
    const keks = keys
      .listKeys()
      .filter((k) => k.purpose === 'kek' && k.tenantId === 'default')
      .map((k) => k.keyId);
    expect(keks).toHaveLength(1); // every older version is destroyed
    const images = { live: blobs(live), backup: blobs(backupFile), rawCopy: blobs(join(h.dataDir, 'raw-copy.db')) };
    // Every data key any remaining KEK opens, from any blob of any image (the AAD names the patient).
    const dataKeys: Buffer[] = [];
    for (const image of Object.values(images)) {
      for (const b of image) {
        for (const kek of keks) {
          for (const pid of ['pa', 'pb']) {
            const k = await keys
              .unwrapDataKey('default', kek, b.value, `sealpost/v1|default|data_keys|${pid}`)
              .catch(() => null);
            if (k) dataKeys.push(Buffer.from(k));
          }
        }
      }
    }
    // Installation keys that stay across rotation, tried directly too (the dev outbox seals under one).
    const candidates = [...dataKeys, keys.macKey('sealpost/dev-outbox')];
    const found = (image: { value: Buffer }[]) => {
      const seen = new Set<string>();
      for (const b of image)
        for (const k of candidates)
          for (const p of ctrOpenings(k, b.value)) for (const m of [...A, ...B]) if (has(p, m)) seen.add(m);
      return seen;
    };
    for (const [name, image] of Object.entries(images)) {
      const seen = found(image);
      expect({ name, a: A.filter((m) => seen.has(m)) }).toEqual({ name, a: [] });
      if (name === 'live') expect(B.filter((m) => seen.has(m))).toEqual(B); // the scanner does find what still opens
    }
    // And no marker of A in plaintext anywhere: the files as bytes, before and after.
    const files = ['', '-wal', '-shm'].map((s) => (existsSync(live + s) ? readFileSync(live + s) : Buffer.alloc(0)));
    for (const buf of [...files, readFileSync(backupFile), ...Object.values(rawCopy)])
      for (const m of A) expect(has(buf, m)).toBe(false);
  });
});
