/**
 * RFC 9420 test vectors (mlswg/mls-implementations) for what travels on the wire, run against
 * ts-mls: message protection (PrivateMessage and PublicMessage, both directions), joining from a
 * Welcome, and the codec round trip of every message type in messages.json. The Sealpost server
 * decodes these same structures, so a codec drift here would break the server's checks too.
 */
import { describe, expect, it } from 'vitest';
import type { Decoder } from 'ts-mls/codec/tlsDecoder.js';
import { getCiphersuiteNameFromId, type CiphersuiteId } from 'ts-mls/crypto/ciphersuite.js';
import { joinGroup } from 'ts-mls/clientState.js';
import { decodeCommit, encodeCommit } from 'ts-mls/commit.js';
import { decodeGroupSecrets, encodeGroupSecrets } from 'ts-mls/groupSecrets.js';
import type { GroupContext } from 'ts-mls/groupContext.js';
import { defaultKeyRetentionConfig } from 'ts-mls/keyRetentionConfig.js';
import { verifyKeyPackage } from 'ts-mls/keyPackage.js';
import { decodeMlsMessage, encodeMlsMessage, type MLSMessage } from 'ts-mls/message.js';
import { protectApplicationData, protectProposal, unprotectPrivateMessage } from 'ts-mls/messageProtection.js';
import { protectProposalPublic, unprotectPublicMessage } from 'ts-mls/messageProtectionPublic.js';
import { defaultPaddingConfig } from 'ts-mls/paddingConfig.js';
import * as proposals from 'ts-mls/proposal.js';
import { decodeRatchetTree, encodeRatchetTree } from 'ts-mls/ratchetTree.js';
import { createSecretTree } from 'ts-mls/secretTree.js';
import { hex, loadVectors, suite, toHex } from './vectors/load.js';

/** Decodes a whole value (nothing left over) or fails the test. */
function decodeAll<T>(decoder: Decoder<T>, bytes: Uint8Array, what: string): T {
  const result = decoder(bytes, 0);
  if (!result) throw new Error(`${what} does not decode`);
  expect([what, result[1]]).toEqual([what, bytes.length]);
  return result[0];
}

function mls<W extends MLSMessage['wireformat']>(value: string, wireformat: W): Extract<MLSMessage, { wireformat: W }> {
  const message = decodeAll(decodeMlsMessage, hex(value), wireformat);
  expect(message.wireformat).toBe(wireformat);
  return message as Extract<MLSMessage, { wireformat: W }>;
}

type Protection = Record<string, string> & { cipher_suite: number; epoch: number };

describe('RFC 9420 message-protection vectors (ts-mls)', () => {
  for (const v of loadVectors<Protection>('message-protection.json')) {
    const setup = async () => {
      const cs = await suite(v.cipher_suite);
      const context: GroupContext = {
        version: 'mls10',
        cipherSuite: getCiphersuiteNameFromId(v.cipher_suite as CiphersuiteId),
        groupId: hex(v.group_id ?? ''),
        epoch: BigInt(v.epoch),
        treeHash: hex(v.tree_hash ?? ''),
        confirmedTranscriptHash: hex(v.confirmed_transcript_hash ?? ''),
        extensions: [],
      };
      const tree = await createSecretTree(2, hex(v.encryption_secret ?? ''), cs.kdf);
      const f = (name: string): Uint8Array => hex(v[name] ?? '');
      const open = (message: Extract<MLSMessage, { wireformat: 'mls_private_message' }>['privateMessage']) =>
        unprotectPrivateMessage(
          f('sender_data_secret'),
          message,
          tree,
          [],
          context,
          defaultKeyRetentionConfig,
          cs,
          f('signature_pub'),
        );
      return { cs, context, tree, f, open };
    };

    it(`cipher suite ${v.cipher_suite}: the published private application, proposal and commit decrypt to the published content`, async () => {
      const { open } = await setup();
      const app = await open(mls(v.application_priv ?? '', 'mls_private_message').privateMessage);
      if (app.content.content.contentType !== 'application') throw new Error('not application data');
      expect(toHex(app.content.content.applicationData)).toBe(v.application);
      const proposal = await open(mls(v.proposal_priv ?? '', 'mls_private_message').privateMessage);
      if (proposal.content.content.contentType !== 'proposal') throw new Error('not a proposal');
      expect(toHex(proposals.encodeProposal(proposal.content.content.proposal))).toBe(v.proposal);
      const commit = await open(mls(v.commit_priv ?? '', 'mls_private_message').privateMessage);
      if (commit.content.content.contentType !== 'commit') throw new Error('not a commit');
      expect(toHex(encodeCommit(commit.content.content.commit))).toBe(v.commit);
    });

    it(`cipher suite ${v.cipher_suite}: the published public proposal and commit verify with the membership key`, async () => {
      const { cs, context, f } = await setup();
      for (const [field, plain] of [
        ['proposal_pub', 'proposal'],
        ['commit_pub', 'commit'],
      ] as const) {
        const message = mls(v[field] ?? '', 'mls_public_message').publicMessage;
        const content = await unprotectPublicMessage(f('membership_key'), context, [], message, cs, f('signature_pub'));
        const c = content.content;
        const encoded = c.contentType === 'proposal' ? proposals.encodeProposal(c.proposal) : encodeCommit(c.commit);
        expect([field, toHex(encoded)]).toEqual([field, v[plain]]);
      }
      const wrongKey = new Uint8Array(f('membership_key'));
      wrongKey[0] = (wrongKey[0] ?? 0) ^ 1;
      const message = mls(v.proposal_pub ?? '', 'mls_public_message').publicMessage;
      await expect(unprotectPublicMessage(wrongKey, context, [], message, cs, f('signature_pub'))).rejects.toThrow();
    });

    it(`cipher suite ${v.cipher_suite}: what ts-mls protects with the published secrets it opens again`, async () => {
      const { cs, context, tree, f, open } = await setup();
      const sealed = await protectApplicationData(
        f('signature_priv'),
        f('sender_data_secret'),
        f('application'),
        new Uint8Array(),
        context,
        tree,
        1,
        defaultPaddingConfig,
        cs,
      );
      const app = await open(sealed.privateMessage);
      if (app.content.content.contentType !== 'application') throw new Error('not application data');
      expect(toHex(app.content.content.applicationData)).toBe(v.application);
      const proposal = decodeAll(proposals.decodeProposal, f('proposal'), 'proposal');
      const sealedProposal = await protectProposal(
        f('signature_priv'),
        f('sender_data_secret'),
        proposal,
        new Uint8Array(),
        context,
        tree,
        1,
        defaultPaddingConfig,
        cs,
      );
      const opened = await open(sealedProposal.privateMessage);
      if (opened.content.content.contentType !== 'proposal') throw new Error('not a proposal');
      expect(toHex(proposals.encodeProposal(opened.content.content.proposal))).toBe(v.proposal);
      const pub = await protectProposalPublic(
        f('signature_priv'),
        f('membership_key'),
        context,
        new Uint8Array(),
        proposal,
        1,
        cs,
      );
      const verified = await unprotectPublicMessage(
        f('membership_key'),
        context,
        [],
        pub.publicMessage,
        cs,
        f('signature_pub'),
      );
      if (verified.content.contentType !== 'proposal') throw new Error('not a proposal');
      expect(toHex(proposals.encodeProposal(verified.content.proposal))).toBe(v.proposal);
    });
  }
});

type PassiveWelcome = {
  cipher_suite: number;
  external_psks: { psk_id: string; psk: string }[];
  key_package: string;
  signature_priv: string;
  encryption_priv: string;
  init_priv: string;
  welcome: string;
  ratchet_tree: string | null;
  initial_epoch_authenticator: string;
};

describe('RFC 9420 passive-client-welcome vectors (ts-mls joinGroup)', () => {
  for (const v of loadVectors<PassiveWelcome>('passive-client-welcome.json')) {
    const join = async (initPriv: string) => {
      const cs = await suite(v.cipher_suite);
      const keyPackage = mls(v.key_package, 'mls_key_package').keyPackage;
      const welcome = mls(v.welcome, 'mls_welcome').welcome;
      const psks = new Map(v.external_psks.map((p) => [p.psk_id, hex(p.psk)]));
      const pskIndex = {
        findPsk: (id: { psktype: string; pskId?: Uint8Array }) =>
          id.psktype === 'external' && id.pskId ? psks.get(toHex(id.pskId)) : undefined,
      };
      const keys = {
        initPrivateKey: hex(initPriv),
        hpkePrivateKey: hex(v.encryption_priv),
        signaturePrivateKey: hex(v.signature_priv),
      };
      const tree =
        v.ratchet_tree === null ? undefined : decodeAll(decodeRatchetTree, hex(v.ratchet_tree), 'ratchet_tree');
      return joinGroup(welcome, keyPackage, keys, pskIndex as never, cs, tree);
    };

    it(`cipher suite ${v.cipher_suite}: the invited key package joins from the Welcome and reaches the published epoch authenticator`, async () => {
      const cs = await suite(v.cipher_suite);
      expect(await verifyKeyPackage(mls(v.key_package, 'mls_key_package').keyPackage, cs.signature)).toBe(true);
      const state = await join(v.init_priv);
      expect(toHex(state.keySchedule.epochAuthenticator)).toBe(v.initial_epoch_authenticator);
    });

    it(`cipher suite ${v.cipher_suite}: a holder of another init key cannot join from that Welcome`, async () => {
      // X25519 clamps the low bits of the first byte, so change the last byte to get another key.
      const other = hex(v.init_priv);
      other[other.length - 1] = (other[other.length - 1] ?? 0) ^ 1;
      await expect(join(toHex(other))).rejects.toThrow();
    });
  }
});

type Codec = [field: string, decode: Decoder<unknown>, encode: (value: never) => Uint8Array];
const codecs: Codec[] = [
  ['mls_welcome', decodeMlsMessage, encodeMlsMessage],
  ['mls_group_info', decodeMlsMessage, encodeMlsMessage],
  ['mls_key_package', decodeMlsMessage, encodeMlsMessage],
  ['ratchet_tree', decodeRatchetTree, encodeRatchetTree],
  ['group_secrets', decodeGroupSecrets, encodeGroupSecrets],
  ['add_proposal', proposals.decodeAdd, proposals.encodeAdd],
  ['update_proposal', proposals.decodeUpdate, proposals.encodeUpdate],
  ['remove_proposal', proposals.decodeRemove, proposals.encodeRemove],
  ['pre_shared_key_proposal', proposals.decodePSK, proposals.encodePSK],
  ['re_init_proposal', proposals.decodeReinit, proposals.encodeReinit],
  ['external_init_proposal', proposals.decodeExternalInit, proposals.encodeExternalInit],
  ['group_context_extensions_proposal', proposals.decodeGroupContextExtensions, proposals.encodeGroupContextExtensions],
  ['commit', decodeCommit, encodeCommit],
  ['public_message_application', decodeMlsMessage, encodeMlsMessage],
  ['public_message_proposal', decodeMlsMessage, encodeMlsMessage],
  ['public_message_commit', decodeMlsMessage, encodeMlsMessage],
  ['private_message', decodeMlsMessage, encodeMlsMessage],
];

describe('RFC 9420 messages vectors (ts-mls codec round trips)', () => {
  for (const [index, v] of loadVectors<Record<string, string>>('messages.json').entries()) {
    for (const [field, decode, encode] of codecs) {
      it(`case ${index}: ${field} decodes completely and encodes back to the same bytes`, () => {
        const bytes = hex(v[field] ?? '');
        expect(bytes.length).toBeGreaterThan(0);
        const value = decodeAll(decode, bytes, field);
        expect(toHex(encode(value as never))).toBe(v[field]);
      });
    }
  }
});
