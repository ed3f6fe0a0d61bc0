import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, samplePatient, startSealpost, type Harness } from '../../test/helpers/sealpost-harness.js';
import { staffWithSession } from '../../test/helpers/identity.js';

/** The README's walkthrough: two people converse with sdk/examples/two-people.ts against a real server. */
describe('the two-people command-line example', () => {
  let h: Harness;
  let dir: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_WORKER: 'false' });
    dir = mkdtempSync(join(tmpdir(), 'sealpost-example-'));
    writeFileSync(join(dir, 'ca.pem'), h.cert);
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill();
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function run(token: string, args: string[]) {
    const child = spawn(process.execPath, ['bin/run-ts.js', 'sdk/examples/two-people.ts', ...args], {
      env: {
        ...process.env,
        SEALPOST_URL: h.url,
        SEALPOST_TOKEN: token,
        SEALPOST_KEYS_PASSPHRASE: 'correct horse battery',
        NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.push(child);
    const out = { text: '' };
    child.stdout!.on('data', (d) => (out.text += String(d)));
    child.stderr!.on('data', (d) => (out.text += String(d)));
    return { child, out, say: (line: string) => child.stdin!.write(`${line}\n`) };
  }

  it('lets two people exchange messages and read receipts from the command line', async () => {
    const ana = await staffWithSession(h, ['nurse']);
    const ben = await staffWithSession(h, ['physician']);
    const b = run(ben.token, ['--keys', join(dir, 'ben.keys'), '--name', 'Ben laptop']);
    await eventually(async () => b.out.text.includes('waiting for a conversation'), `ben ready: ${b.out.text}`);
    const a = run(ana.token, ['--keys', join(dir, 'ana.keys'), '--to', `user:${ben.userId}`]);
    await eventually(async () => a.out.text.includes('type a message'), `ana ready: ${a.out.text}`);
    a.say('Hello Ben, bed 4 please');
    await eventually(
      async () => b.out.text.includes(`user:${ana.userId}: Hello Ben, bed 4 please`),
      `ben got it: ${b.out.text}`,
    );
    b.say('On my way');
    await eventually(async () => a.out.text.includes(`user:${ben.userId}: On my way`), `ana got it: ${a.out.text}`);
    b.say('/read');
    await eventually(async () => a.out.text.includes(`user:${ben.userId} read up to`), `read receipt: ${a.out.text}`);
    a.say('/quit');
    b.say('/quit');
    await eventually(async () => a.child.exitCode !== null && b.child.exitCode !== null, 'both quit');
    expect(a.child.exitCode).toBe(0);
  });

  it('opens a patient’s care-team thread with --patient, and a care-team colleague reads it', async () => {
    const ana = await staffWithSession(h, ['nurse']);
    const ben = await staffWithSession(h, ['physician']);
    expect((await h.request('PUT', '/v1/patients/p-example', samplePatient())).status).toBe(201);
    for (const u of [ana, ben])
      expect((await h.request('PUT', `/v1/patients/p-example/care-team/${u.userId}`, {})).status).toBe(201);
    const b = run(ben.token, ['--keys', join(dir, 'ben-care.keys')]);
    await eventually(async () => b.out.text.includes('waiting for a conversation'), `ben ready: ${b.out.text}`);
    const a = run(ana.token, ['--keys', join(dir, 'ana-care.keys'), '--patient', 'p-example']);
    await eventually(async () => a.out.text.includes('opened the care-team conversation'), `ana: ${a.out.text}`);
    await eventually(async () => a.out.text.includes('type a message'), `ana ready: ${a.out.text}`);
    a.say('Care plan updated');
    await eventually(
      async () => b.out.text.includes(`user:${ana.userId}: Care plan updated`),
      `ben got it: ${b.out.text}`,
    );
    a.say('/quit');
    b.say('/quit');
    await eventually(async () => a.child.exitCode !== null && b.child.exitCode !== null, 'both quit');
    expect(a.child.exitCode).toBe(0);
  });
});
