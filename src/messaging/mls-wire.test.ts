import { describe, expect, it } from 'vitest';
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPub,
  createGroupInfoWithExternalPubAndRatchetTree,
  defaultCapabilities,
  defaultLifetime,
  encodeExternalSender,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
} from 'ts-mls';
import { isWelcome, readFraming, readGroupInfo } from './mls-wire.js';
import { deviceIdentity } from './messaging-types.js';

const SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519' as const;

async function twoMemberGroup() {
  const cs = await getCiphersuiteImpl(getCiphersuiteFromName(SUITE));
  const pkg = async (device: string) => {
    const keys = await cs.signature.keygen();
    const cred = { credentialType: 'basic' as const, identity: new TextEncoder().encode(deviceIdentity('t', device)) };
    const k = await generateKeyPackageWithKey(cred, defaultCapabilities(), defaultLifetime, [], keys, cs);
    return { ...k, keys };
  };
  const [a, b] = [await pkg('da'), await pkg('db')];
  const external = await cs.signature.keygen();
  const ext = encodeExternalSender({
    credential: { credentialType: 'basic', identity: new TextEncoder().encode('server') },
    signaturePublicKey: external.publicKey,
  });
  const state = await createGroup(
    new TextEncoder().encode('conv-1'),
    a.publicPackage,
    a.privatePackage,
    [{ extensionType: 'external_senders', extensionData: ext }],
    cs,
  );
  const c = await createCommit(
    { state, cipherSuite: cs },
    { extraProposals: [{ proposalType: 'add', add: { keyPackage: b.publicPackage } }], ratchetTreeExtension: true },
  );
  return { cs, a, b, external, state, c };
}

describe('mls-wire: what the Delivery Service reads of MLS messages', () => {
  it('reads the clear framing of a commit and of an application message', async () => {
    const { cs, c } = await twoMemberGroup();
    expect(readFraming(encodeMlsMessage(c.commit))).toEqual({
      wireFormat: 'mls_private_message',
      groupId: 'conv-1',
      epoch: 0,
      contentType: 'commit',
      senderType: null,
    });
    const app = await createApplicationMessage(c.newState, new TextEncoder().encode('hello'), cs);
    const bytes = encodeMlsMessage({
      version: 'mls10',
      wireformat: 'mls_private_message',
      privateMessage: app.privateMessage,
    });
    expect(readFraming(bytes)).toMatchObject({ epoch: 1, contentType: 'application' });
    expect(Buffer.from(bytes).includes(Buffer.from('hello'))).toBe(false);
  });

  it('lists the leaves of a GroupInfo with its ratchet tree, and the external senders', async () => {
    const { cs, a, b, external, c } = await twoMemberGroup();
    const gi = await createGroupInfoWithExternalPubAndRatchetTree(c.newState, [], cs);
    const r = readGroupInfo(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_group_info', groupInfo: gi }))!;
    expect(r).toMatchObject({ groupId: 'conv-1', epoch: 1, cipherSuite: SUITE });
    expect(r.leaves.map((l) => [l.leafIndex, l.identity])).toEqual([
      [0, 'sealpost:v1:t:da'],
      [1, 'sealpost:v1:t:db'],
    ]);
    expect(Buffer.from(r.leaves[1].signatureKey).equals(Buffer.from(b.keys.publicKey))).toBe(true);
    expect(Buffer.from(r.leaves[0].signatureKey).equals(Buffer.from(a.keys.publicKey))).toBe(true);
    expect(r.externalSenderKeys.map((k) => Buffer.from(k).toString('hex'))).toEqual([
      Buffer.from(external.publicKey).toString('hex'),
    ]);
    expect(isWelcome(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: c.welcome! }))).toBe(
      true,
    );
  });

  it('answers null for a GroupInfo without its tree, for garbage and for trailing bytes', async () => {
    const { cs, c } = await twoMemberGroup();
    const bare = await createGroupInfoWithExternalPub(c.newState, [], cs);
    expect(
      readGroupInfo(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_group_info', groupInfo: bare })),
    ).toBeNull();
    expect(readFraming(new Uint8Array([1, 2, 3]))).toBeNull();
    const commit = encodeMlsMessage(c.commit);
    expect(readFraming(new Uint8Array([...commit, 0]))).toBeNull();
    expect(readGroupInfo(commit)).toBeNull();
    expect(isWelcome(commit)).toBe(false);
  });
});
