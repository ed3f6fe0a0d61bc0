import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { sdkClient, type TestClient } from '../../sdk/test/helpers/sdk-clients.js';
import { cli } from '../helpers/sealpost-cli.js';
import { anon, asBearer } from '../helpers/staff-sign-in.js';
import { issueArchiverSession } from '../../src/cli/archiver-identity.js';
import { ArchiveStore, defaultKeyFile, readArchiveKey } from '../../src/cli/archiver-store.js';
import { archiveMembers } from '../../src/messaging/archive-policy.js';

/**
 * The archive member (`sealpost archiver`, docs/archiver.md) through the real server: the identity
 * `init` creates, the session `run` mints for it (messaging only, no sign-in), the export (audited,
 * ids only) and the roster rule of the messaging policy.
 */
describe('the archive member', () => {
  let h: Harness;
  let env: Record<string, string>;
  let archiverId: string;
  const dir = () => join(h.dataDir, 'archive', 'default');

  beforeAll(async () => {
    h = await startSealpost();
    env = { SEALPOST_DATA_DIR: h.dataDir, SEALPOST_LOG_LEVEL: 'warn' };
    const r = await cli(env, ['archiver', 'init']);
    expect(r.code).toBe(0);
    archiverId = r.stdout.trim();
  }, 120_000);
  afterAll(() => h?.close());

  it('is created by init as a user of the archiver role alone, audited, with its archive key readable by its owner only', async () => {
    const u = await h.app.store.read.users.byId('default', archiverId);
    expect(u).toMatchObject({ roles: 'archiver', status: 'active', password_hash: null });
    expect(u!.email).toMatch(/\.invalid$/);
    expect(readArchiveKey(defaultKeyFile(dir()))).toHaveLength(32);
    const state = JSON.parse(readFileSync(join(dir(), 'archiver.json'), 'utf8'));
    expect(state).toEqual({ v: 1, tenantId: 'default', userId: archiverId, deviceId: null });
    const audit = await h.request('GET', `/v1/audit/events?action=archiver.created`);
    expect(JSON.stringify(audit.body)).toContain(archiverId);
  });

  it('refuses a second init in the same directory and an unknown tenant, and keeps one identity per tenant', async () => {
    const again = await cli(env, ['archiver', 'init']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('an archive exists already');
    const nowhere = await cli(env, ['archiver', 'init', '--tenant', 'nope', '--dir', join(h.dataDir, 'x')]);
    expect(nowhere.code).toBe(1);
    expect(nowhere.stderr).toContain('no such tenant');
    const other = await cli(env, ['archiver', 'init', '--dir', join(h.dataDir, 'second')]);
    expect(other.code).toBe(0);
    expect(other.stdout.trim()).toBe(archiverId);
    expect(await h.app.store.read.users.activeWithRole('default', 'archiver')).toHaveLength(1);
  }, 60_000);

  it('cannot sign in, and its minted session may message but do nothing else', async () => {
    const u = await h.app.store.read.users.byId('default', archiverId);
    const login = await anon(h, 'POST', '/v1/auth/login', { email: u!.email, password: 'violet harbour lantern x' });
    expect(login.status).toBe(401);
    const s = await issueArchiverSession(h.app.store, h.app.sessions, 'default', 'test', new Date());
    expect((await asBearer(h, s.token, 'GET', '/v1/messaging/devices')).status).toBe(200);
    for (const [method, path] of [
      ['GET', '/v1/users'],
      ['GET', '/v1/audit/events'],
      ['GET', '/v1/patients/p1'],
    ] as const)
      expect((await asBearer(h, s.token, method, path)).status).toBe(403);
  });

  it('gives the archiver role to nobody through the users API', async () => {
    const invited = await h.request('POST', '/v1/users', {
      email: 'b@example.com',
      displayName: 'B',
      roles: ['archiver'],
    });
    expect(invited.status).toBe(400);
    const nurse = await h.request('POST', '/v1/users', { email: 'c@example.com', displayName: 'C', roles: ['nurse'] });
    const given = await h.request('PATCH', `/v1/users/${nurse.body.user.id}`, { roles: ['archiver'] });
    expect(given.status).toBe(400);
  });

  it('exports a conversation in order with recalled messages kept, audited with ids and counts only', async () => {
    const archive = new ArchiveStore(dir(), readArchiveKey(defaultKeyFile(dir())));
    const base = { conversationId: 'conv-x', sentAt: new Date(0).toISOString() };
    const sender = { deviceId: 'd1', person: { kind: 'user', id: 'u1' } };
    archive.append({ ...base, type: 'message', seq: 2, sender, text: 'ARCHIVE-MARKER-one', attachments: [] });
    archive.append({ ...base, type: 'message', seq: 4, sender, text: 'ARCHIVE-MARKER-two', attachments: [] });
    archive.append({ conversationId: 'conv-x', type: 'recall', recalledSeq: 4, at: new Date(0).toISOString() });
    const out = join(h.dataDir, 'export.jsonl');
    const r = await cli(env, ['archiver', 'export', '--conversation', 'conv-x', '--out', out]);
    expect(r.code).toBe(0);
    const lines = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.type, l.seq ?? l.recalledSeq, l.text])).toEqual([
      ['message', 2, 'ARCHIVE-MARKER-one'],
      ['message', 4, 'ARCHIVE-MARKER-two'],
      ['recall', 4, undefined],
    ]);
    const audit = await h.request('GET', `/v1/audit/events?action=archive.exported`);
    expect(audit.text).toContain('conv-x');
    expect(audit.text).not.toContain('ARCHIVE-MARKER');
    const bad = await cli(env, ['archiver', 'export', '--conversation', '../etc']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('not an id');
  }, 60_000);

  it('joins no roster while the policy has archive off', async () => {
    expect(await h.app.store.transaction((tx) => archiveMembers(tx, 'default'))).toEqual([]);
  });

  it('mints no session once an administrator gave the archiver another role', async () => {
    const changed = await h.request('PATCH', `/v1/users/${archiverId}`, { roles: ['nurse'] });
    expect(changed.status).toBe(200);
    await expect(issueArchiverSession(h.app.store, h.app.sessions, 'default', 'test', new Date())).rejects.toThrow(
      /no active archiver/,
    );
  });
});

/**
 * The archiver as operators run it (`sealpost archiver run`, its own process) in conversations of
 * two staff SDK clients through the real server: it is in the roster of conversations created while
 * the policy has archive on, receives every message, keeps a recalled one with its recall, and keeps
 * no plaintext on disk; a conversation created with the policy off does not include it.
 */
describe('the archive member in conversations', () => {
  let h: Harness;
  let env: Record<string, string>;
  let archiverId: string;
  let ana: TestPerson, ben: TestPerson, admin: TestPerson;
  let a: TestClient, b: TestClient;
  let runner: ReturnType<typeof cli> | null = null;
  let kill: () => void = () => {};
  let log = '';
  const dir = () => join(h.dataDir, 'archive', 'default');

  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_WORKER: 'false' });
    const ca = join(h.dataDir, 'server-ca.pem');
    writeFileSync(ca, h.cert);
    env = { SEALPOST_DATA_DIR: h.dataDir, SEALPOST_LOG_LEVEL: 'warn', NODE_EXTRA_CA_CERTS: ca };
    archiverId = (await cli(env, ['archiver', 'init'])).stdout.trim();
    [ana, ben, admin] = [
      await staffWithSession(h, ['nurse']),
      await staffWithSession(h, ['physician']),
      await staffWithSession(h, ['admin']),
    ];
    [a, b] = [await sdkClient(h, ana.token, 'ana'), await sdkClient(h, ben.token, 'ben')];
    runner = cli(env, ['archiver', 'run', '--server', h.url], (all, k) => {
      log = all;
      kill = k;
    });
    await eventually(async () => log.includes('archiver: connected'), 'the archiver connected', 60_000);
  }, 180_000);
  afterAll(async () => {
    kill();
    await runner;
    for (const t of [a, b]) t?.client.close();
    await h?.close();
  });

  it('registers its device in the transparency log like any device, and runs once per directory', async () => {
    const devices = await h.request('GET', `/v1/audit/events?action=messaging.device.registered`);
    const state = JSON.parse(readFileSync(join(dir(), 'archiver.json'), 'utf8'));
    expect(state.deviceId).toEqual(expect.any(String));
    expect(devices.text).toContain(state.deviceId);
    // A second archiver on the same directory would corrupt its MLS state: refused.
    const second = await cli(env, ['archiver', 'run', '--once', '--server', h.url]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('is running on this directory');
  });

  it('receives every message of a conversation created while the policy has archive on, recalls recorded', async () => {
    const put = await asBearer(h, admin.token, 'PUT', '/v1/messaging/policy', {
      requirePostQuantum: false,
      defaultLifespanSeconds: null,
      archive: true,
    });
    expect(put.status).toBe(200);
    expect(put.body.archive).toBe(true);
    const view = await a.client.createConversation({ kind: 'group', members: [{ kind: 'user', id: ben.userId }] });
    expect(view.members.map((m) => m.id)).toContain(archiverId);
    const conv = view.id;
    await b.client.sync(conv);
    const one = await a.client.send(conv, 'ARCHIVE-MARKER one');
    await b.client.sync(conv);
    const two = await b.client.send(conv, 'ARCHIVE-MARKER two', { replyTo: one.seq });
    const three = await a.client.send(conv, 'ARCHIVE-MARKER three (wrong patient)');
    await eventually(async () => log.includes(`archived ${conv} seq ${three.seq}`), 'the archiver archived three');
    await a.client.recall(conv, three.seq);
    await eventually(async () => log.includes(`recall of ${conv} seq ${three.seq}`), 'the archiver saw the recall');

    const out = join(h.dataDir, 'conv.jsonl');
    const r = await cli(env, ['archiver', 'export', '--conversation', conv, '--out', out]);
    expect(r.code).toBe(0);
    const records = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const messages = records.filter((x) => x.type === 'message');
    // On failure the archiver's log (ids and seqs only) says what it processed.
    expect(
      messages.map((m) => [m.seq, m.text, m.sender.person.id]),
      log,
    ).toEqual([
      [one.seq, 'ARCHIVE-MARKER one', ana.userId],
      [two.seq, 'ARCHIVE-MARKER two', ben.userId],
      [three.seq, 'ARCHIVE-MARKER three (wrong patient)', ana.userId],
    ]);
    expect(messages[1].extra.replyTo).toBe(one.seq);
    expect(records.filter((x) => x.type === 'recall')).toEqual([expect.objectContaining({ recalledSeq: three.seq })]);
    // The archive keeps no plaintext at rest.
    for (const f of readdirSync(dir(), { recursive: true, encoding: 'utf8' }))
      if (statSync(join(dir(), f)).isFile())
        expect(readFileSync(join(dir(), f)).includes('ARCHIVE-MARKER')).toBe(false);
  }, 120_000);

  it('keeps attachments decrypted and sealed under its own key, and exports them', async (ctx) => {
    const api = await h.request('GET', '/openapi.json');
    // The attachment routes are part of the messaging API once wired; until then there is nothing to fetch.
    if (!JSON.stringify(Object.keys(api.body.paths)).includes('/attachments')) ctx.skip();
    const view = await a.client.createConversation({ kind: 'direct', members: [{ kind: 'user', id: ben.userId }] });
    const conv = view.id;
    const sent = await a.client.send(conv, 'ARCHIVE-MARKER scan attached', {
      attachments: [{ name: 'scan.txt', type: 'text/plain', data: Buffer.from('ARCHIVE-MARKER file body') }],
    });
    await eventually(async () => log.includes(`archived ${conv} seq ${sent.seq}`), 'the archiver archived it');
    await eventually(async () => existsSync(join(dir(), 'attachments', conv)), 'the archiver stored the attachment');
    const files = join(h.dataDir, 'files');
    const out = join(h.dataDir, 'att.jsonl');
    const r = await cli(env, ['archiver', 'export', '--conversation', conv, '--out', out, '--attachments', files]);
    expect(r.code).toBe(0);
    const [m] = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((x) => x.type === 'message');
    const [att] = m.attachments;
    expect(att).toMatchObject({ name: 'scan.txt', mediaType: 'text/plain', archived: true });
    expect(att.key).toBeUndefined();
    expect(readFileSync(join(files, att.id), 'utf8')).toBe('ARCHIVE-MARKER file body');
    expect(readFileSync(join(dir(), 'attachments', conv, `${att.id}.bin`)).includes('ARCHIVE-MARKER')).toBe(false);
  }, 120_000);

  it('stays in a patient thread when the care team changes (it is no care-team member)', async () => {
    const on = await asBearer(h, admin.token, 'PUT', '/v1/messaging/policy', {
      requirePostQuantum: false,
      defaultLifespanSeconds: null,
      archive: true,
    });
    expect(on.body.archive).toBe(true);
    expect((await h.request('PUT', '/v1/patients/p-arch', samplePatient())).status).toBe(201);
    expect((await h.request('PUT', `/v1/patients/p-arch/care-team/${ana.userId}`, {})).status).toBe(201);
    const view = await a.client.createConversation({ kind: 'patient', patientId: 'p-arch' });
    const conv = view.id;
    expect(view.members.map((m) => m.id).sort()).toEqual([ana.userId, archiverId].sort());
    expect((await h.request('PUT', `/v1/patients/p-arch/care-team/${ben.userId}`, {})).status).toBe(201);
    expect((await h.request('DELETE', `/v1/patients/p-arch/care-team/${ben.userId}`)).status).toBe(204);
    await a.client.sync(conv);
    const after = await h.request('GET', `/v1/conversations/${conv}`, undefined, {
      authorization: `Bearer ${ana.token}`,
    });
    expect(after.body.members.map((m: { id: string }) => m.id).sort()).toEqual([ana.userId, archiverId].sort());
    const sent = await a.client.send(conv, 'ARCHIVE-MARKER patient thread');
    await eventually(async () => log.includes(`archived ${conv} seq ${sent.seq}`), 'the archiver archived it');
  }, 120_000);

  it('is not in conversations created while the policy has archive off', async () => {
    const put = await asBearer(h, admin.token, 'PUT', '/v1/messaging/policy', {
      requirePostQuantum: false,
      defaultLifespanSeconds: null,
      archive: false,
    });
    expect(put.body.archive).toBe(false);
    // A PUT without the field keeps the switch; a PUT with a bad value changes nothing.
    const kept = await asBearer(h, admin.token, 'PUT', '/v1/messaging/policy', {
      requirePostQuantum: false,
      defaultLifespanSeconds: null,
    });
    expect(kept.body.archive).toBe(false);
    const bad = await asBearer(h, admin.token, 'PUT', '/v1/messaging/policy', {
      requirePostQuantum: false,
      defaultLifespanSeconds: null,
      archive: 'yes',
    });
    expect(bad.status).toBe(400);
    expect((await asBearer(h, ana.token, 'GET', '/v1/messaging/policy')).body.archive).toBe(false);
    const refused = await asBearer(h, ana.token, 'PUT', '/v1/messaging/policy', {
      requirePostQuantum: false,
      defaultLifespanSeconds: null,
      archive: true,
    });
    expect(refused.status).toBe(403);
    const view = await a.client.createConversation({ kind: 'direct', members: [{ kind: 'user', id: ben.userId }] });
    expect(view.members.map((m) => m.id).sort()).toEqual([ana.userId, ben.userId].sort());
  }, 60_000);
});
