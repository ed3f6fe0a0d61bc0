import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSealpost, type Harness } from '../helpers/sealpost-harness.js';
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
