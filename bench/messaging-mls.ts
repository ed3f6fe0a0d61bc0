/**
 * Client-side MLS cost per cipher suite, with ts-mls directly (what the SDK runs on each device):
 * one application message of 1 KiB encrypted (createApplicationMessage + encodeMlsMessage) and
 * decrypted (decodeMlsMessage + processPrivateMessage) in a 2-member group, and one commit adding a
 * member (createCommit with the ratchet tree extension, as the SDK commits), its processing by the
 * other member and the new member's join from the Welcome. The reference, in the same run: one
 * AES-256-GCM encryption of the same 1 KiB with node:crypto (random 96-bit nonce, tag).
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  processPrivateMessage,
  type CiphersuiteImpl,
  type ClientState,
  type KeyPackage,
  type PrivateKeyPackage,
} from 'ts-mls';
import { CIPHER_SUITES, type CipherSuiteName } from '../src/messaging/messaging-types.js';

export const PAYLOAD_BYTES = 1024;

/** CPU (all threads of this process) and wall time per operation over `n` sequential runs. */
export interface Cost {
  n: number;
  cpuUs: number;
  wallUs: number;
}

export async function measure(n: number, op: (i: number) => unknown): Promise<Cost> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await op(i);
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { n, cpuUs: (c.user + c.system) / n, wallUs: (wall * 1000) / n };
}

export interface MlsRow {
  suite: CipherSuiteName;
  op: 'encrypt 1 KiB' | 'decrypt 1 KiB' | 'commit adding a member' | 'process that commit' | 'join from its Welcome';
  cost: Cost;
  /** Encoded MLSMessage size (the application message; the commit; the Welcome). */
  bytes: number;
}

export interface MlsResult {
  reference: Cost;
  rows: MlsRow[];
}

const enc = new TextEncoder();
const member = (name: string) => ({ credentialType: 'basic' as const, identity: enc.encode(name) });

async function keyPackage(name: string, impl: CiphersuiteImpl) {
  return generateKeyPackage(member(name), defaultCapabilities(), defaultLifetime, [], impl);
}

/** A 2-member group: Alice created it and added Bob; both states are at epoch 1. */
async function twoMemberGroup(impl: CiphersuiteImpl): Promise<{ alice: ClientState; bob: ClientState }> {
  const a = await keyPackage('alice', impl);
  const b = await keyPackage('bob', impl);
  const alice0 = await createGroup(enc.encode('bench-conversation'), a.publicPackage, a.privatePackage, [], impl);
  const c = await createCommit(
    { state: alice0, cipherSuite: impl },
    { extraProposals: [{ proposalType: 'add', add: { keyPackage: b.publicPackage } }], ratchetTreeExtension: true },
  );
  const bob = await joinGroup(c.welcome!, b.publicPackage, b.privatePackage, emptyPskIndex, impl);
  return { alice: c.newState, bob };
}

function aesReference(n: number, payload: Uint8Array): Promise<Cost> {
  const key = randomBytes(32);
  return measure(n, () => {
    const c = createCipheriv('aes-256-gcm', key, randomBytes(12));
    c.update(payload);
    c.final();
    return c.getAuthTag();
  });
}

async function suiteRows(
  suite: CipherSuiteName,
  messages: number,
  commits: number,
  log: (s: string) => void,
): Promise<MlsRow[]> {
  const impl = await getCiphersuiteImpl(getCiphersuiteFromName(suite));
  const payload = randomBytes(PAYLOAD_BYTES);
  let { alice, bob } = await twoMemberGroup(impl);

  // Warm-up (JIT, WebCrypto key import paths), then the measured runs in order.
  const warm: Uint8Array[] = [];
  for (let i = 0; i < 50; i++) {
    const r = await createApplicationMessage(alice, payload, impl);
    alice = r.newState;
    warm.push(
      encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: r.privateMessage }),
    );
  }
  for (const w of warm) bob = (await decrypt(bob, w, impl)).newState;

  const wire: Uint8Array[] = [];
  const encrypt = await measure(messages, async () => {
    const r = await createApplicationMessage(alice, payload, impl);
    alice = r.newState;
    wire.push(
      encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: r.privateMessage }),
    );
  });
  const decrypt1 = await measure(messages, async (i) => {
    const r = await decrypt(bob, wire[i]!, impl);
    if (r.kind !== 'applicationMessage' || r.message.length !== PAYLOAD_BYTES) throw new Error('decryption failed');
    bob = r.newState;
  });
  log(`  ${suite}: ${messages} messages encrypted and decrypted`);

  // Commits: each adds a fresh member to the same 2-member epoch (states are immutable values).
  const joiners: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage }[] = [];
  for (let i = 0; i < commits + 3; i++) joiners.push(await keyPackage(`carol-${i}`, impl));
  const made: { commit: Uint8Array; welcome: Uint8Array }[] = [];
  const addOne = async (i: number) => {
    const c = await createCommit(
      { state: alice, cipherSuite: impl },
      {
        extraProposals: [{ proposalType: 'add', add: { keyPackage: joiners[i]!.publicPackage } }],
        ratchetTreeExtension: true,
      },
    );
    made.push({
      commit: encodeMlsMessage(c.commit),
      welcome: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: c.welcome! }),
    });
  };
  for (let i = 0; i < 3; i++) await addOne(commits + i); // warm-up
  made.length = 0;
  const commit = await measure(commits, addOne);
  const processCommit = await measure(commits, async (i) => {
    const r = await decrypt(bob, made[i]!.commit, impl);
    if (r.kind !== 'newState') throw new Error('commit not applied');
  });
  const join = await measure(commits, async (i) => {
    const m = decodeMlsMessage(made[i]!.welcome, 0)?.[0];
    if (m?.wireformat !== 'mls_welcome') throw new Error('not a welcome');
    await joinGroup(m.welcome, joiners[i]!.publicPackage, joiners[i]!.privatePackage, emptyPskIndex, impl);
  });
  log(`  ${suite}: ${commits} commits made, processed and joined`);
  return [
    { suite, op: 'encrypt 1 KiB', cost: encrypt, bytes: wire[0]!.length },
    { suite, op: 'decrypt 1 KiB', cost: decrypt1, bytes: wire[0]!.length },
    { suite, op: 'commit adding a member', cost: commit, bytes: made[0]!.commit.length },
    { suite, op: 'process that commit', cost: processCommit, bytes: made[0]!.commit.length },
    { suite, op: 'join from its Welcome', cost: join, bytes: made[0]!.welcome.length },
  ];
}

async function decrypt(state: ClientState, bytes: Uint8Array, impl: CiphersuiteImpl) {
  const m = decodeMlsMessage(bytes, 0)?.[0];
  if (m?.wireformat !== 'mls_private_message') throw new Error('not a private message');
  return processPrivateMessage(state, m.privateMessage, emptyPskIndex, impl);
}

export async function runMlsCosts(
  o: { messages: number; commits: number },
  log: (s: string) => void,
): Promise<MlsResult> {
  const payload = randomBytes(PAYLOAD_BYTES);
  await aesReference(2000, payload);
  const before = await aesReference(20_000, payload);
  const rows: MlsRow[] = [];
  for (const suite of CIPHER_SUITES) rows.push(...(await suiteRows(suite, o.messages, o.commits, log)));
  const after = await aesReference(20_000, payload);
  // The reference before and after the MLS runs (the machine is shared): their mean.
  const reference: Cost = {
    n: before.n + after.n,
    cpuUs: (before.cpuUs + after.cpuUs) / 2,
    wallUs: (before.wallUs + after.wallUs) / 2,
  };
  return { reference, rows };
}

/** The encoded size of an MLS application message carrying 1 KiB in `suite` (for realistic load). */
export function ciphertextBytes(r: MlsResult, suite: CipherSuiteName): number {
  return r.rows.find((x) => x.suite === suite && x.op === 'encrypt 1 KiB')?.bytes ?? PAYLOAD_BYTES + 100;
}

const f1 = (x: number) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1));

export function renderMls(r: MlsResult): string {
  const out = [
    `Reference: AES-256-GCM of 1 KiB (node:crypto) ${r.reference.cpuUs.toFixed(2)} µs CPU, ${r.reference.wallUs.toFixed(2)} µs wall.`,
    '',
    '| suite | operation | n | CPU µs/op | wall µs/op | × AES-GCM 1 KiB | bytes |',
    '|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const x of r.rows)
    out.push(
      `| ${x.suite.startsWith('MLS_256_XWING') ? 'X-Wing (256)' : 'X25519 (128)'} | ${x.op} | ${x.cost.n} | ${f1(x.cost.cpuUs)} | ${f1(x.cost.wallUs)} | ${Math.round(x.cost.cpuUs / r.reference.cpuUs).toLocaleString('en-US')} | ${x.bytes} |`,
    );
  return out.join('\n') + '\n';
}
