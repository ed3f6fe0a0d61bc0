/**
 * Where fan-out and latency send and receive. When the app serves conversations (its own routes:
 * `POST /v1/conversations`, `/commits`, `/messages`, the live WebSocket, over HTTPS) everything goes
 * through them. Otherwise (before the app wired them) the conversations and live-delivery parts are
 * composed on the bench server's store as the composition root does (the ConversationService /
 * ConversationCommits / ConversationEvents, the StoreDeviceDirectory, the LiveHub) behind a second
 * listener (buildServer: the same authentication with the app's sessions) carrying the live route and
 * a thin message route. Groups are real MLS groups made with ts-mls: the creator claims the members'
 * uploaded key packages and commits their adds with the tenant's external sender in the extensions.
 */
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Type } from 'typebox';
import { v7 as uuidv7 } from 'uuid';
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  decodeMlsMessage,
  defaultCapabilities,
  encodeExternalSender,
  defaultLifetime,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  type ClientState,
} from 'ts-mls';
import { buildServer } from '../src/api/build-server.js';
import { Metrics } from '../src/api/metrics.js';
import { messagingLiveRoutes } from '../src/api/routes/messaging-live-routes.js';
import { LocalKeyring } from '../src/crypto/local-keyring.js';
import { EnvelopeCipher } from '../src/crypto/envelope-cipher.js';
import { KeyPackageService } from '../src/messaging/key-packages.js';
import { StoreDeviceDirectory } from '../src/messaging/device-directory.js';
import { ExternalSenders } from '../src/messaging/external-sender.js';
import { ConversationService } from '../src/messaging/conversation-service.js';
import { ConversationCommits } from '../src/messaging/conversation-commits.js';
import { ConversationEvents } from '../src/messaging/conversation-events.js';
import type { Caller, ConversationDeps } from '../src/messaging/conversation-access.js';
import { LiveHub } from '../src/messaging/live-hub.js';
import { deviceIdentity, type CipherSuiteName } from '../src/messaging/messaging-types.js';
import { call, suiteImpl, uploadKeyPackages, type BenchDevice, type BenchServer } from './messaging-setup.js';

export interface Stack {
  /** The app's own routes (HTTPS) when it serves conversations; else the composed listener (HTTP). */
  app: boolean;
  /** The certificate to trust (app), or undefined (plain HTTP on loopback). */
  ca: string | undefined;
  commits: ConversationCommits | null;
  conversations: ConversationService | null;
  /** Base URL of the message and live routes. */
  url: string;
  /** Posts one application message of `d` (in-process call on the composed stack, HTTPS on the app). */
  send(
    d: BenchDevice,
    conversationId: string,
    body: { epoch: number; message: string; clientMessageId: string },
  ): Promise<void>;
  close(): Promise<void>;
}

export const callerOf = (d: BenchDevice): Caller => ({
  tenantId: 'default',
  actor: `user:${d.userId}`,
  person: { kind: 'user', id: d.userId },
  roles: ['nurse'],
});

/**
 * The app's conversation and live routes when it has them (answers 400 to an empty create, not 404);
 * otherwise the composed stack below.
 */
export async function startStack(s: BenchServer, probe: BenchDevice): Promise<Stack> {
  const r = await call(s, probe.token, 'POST', '/v1/conversations', {});
  if (r.status !== 404)
    return {
      app: true,
      ca: s.h.cert,
      commits: null,
      conversations: null,
      url: s.h.url,
      async send(d, id, b) {
        const a = await call(s, d.token, 'POST', `/v1/conversations/${id}/messages`, { deviceId: d.deviceId, ...b });
        if (a.status !== 201) throw new Error(`message answered ${a.status}: ${a.text}`);
      },
      close: async () => undefined,
    };
  return composedStack(s);
}

async function composedStack(s: BenchServer): Promise<Stack> {
  const store = s.h.app.store;
  const clock = () => new Date();
  const keyPackages = new KeyPackageService({ store, clock, newId: uuidv7, lowThreshold: 10 });
  const cipher = new EnvelopeCipher(LocalKeyring.openOrCreate(join(s.h.dataDir, 'bench-keyring.json')).keyring);
  const deps: ConversationDeps = {
    store,
    cipher,
    clock,
    newId: uuidv7,
    devices: new StoreDeviceDirectory(keyPackages),
    // Bench messages name no attachment: the port is never called.
    attachments: {
      attach: async () => {
        throw new Error('no attachments in the bench');
      },
      deleteForMessages: async () => 0,
    },
    feed: { published() {} },
    externalSenders: new ExternalSenders({ cipher, clock }),
    patientRef: (_t, p) => p,
  };
  const events = new ConversationEvents(deps);
  const hub = new LiveHub({
    reader: events,
    signal: store.feedSignal,
    maxBufferedBytes: 1 << 22,
    batch: 50,
    onError: (e) => process.stderr.write(`live hub: ${String(e)}\n`),
  });
  deps.feed = hub;
  hub.start();
  const commits = new ConversationCommits(deps);
  const server = await buildServer({
    logger: pino({ level: 'silent' }),
    bodyLimit: 1_000_000,
    store,
    metrics: new Metrics(store),
    clock,
    publicUrl: 'http://127.0.0.1',
    sessions: s.h.app.sessions,
  });
  await server.register(messagingLiveRoutes, {
    prefix: '/v1/messaging',
    hub,
    devices: deps.devices,
    store,
    publicUrl: 'http://127.0.0.1',
  });
  server.post(
    '/v1/conversations/:id/messages',
    {
      config: { permission: 'message.use' },
      schema: {
        params: Type.Object({ id: Type.String() }),
        body: Type.Object({
          deviceId: Type.String(),
          epoch: Type.Integer(),
          message: Type.String(),
          clientMessageId: Type.String(),
        }),
      },
    },
    async (req, reply) => {
      const p = req.principal!;
      const caller: Caller = {
        tenantId: p.tenantId,
        actor: p.actor,
        person: { kind: 'user', id: p.id },
        roles: p.roles,
      };
      const b = req.body;
      const r = await commits.message(caller, req.params.id, {
        deviceId: b.deviceId,
        epoch: b.epoch,
        message: new Uint8Array(Buffer.from(b.message, 'base64')),
        clientMessageId: b.clientMessageId,
      });
      return reply.code(201).send(r);
    },
  );
  await server.listen({ host: '127.0.0.1', port: 0 });
  return {
    app: false,
    ca: undefined,
    commits,
    conversations: new ConversationService(deps),
    url: `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`,
    async send(d, id, b) {
      await commits.message(callerOf(d), id, {
        deviceId: d.deviceId,
        epoch: b.epoch,
        message: new Uint8Array(Buffer.from(b.message, 'base64')),
        clientMessageId: b.clientMessageId,
      });
    },
    async close() {
      hub.stop();
      await server.close();
    },
  };
}

export interface BenchGroup {
  id: string;
  epoch: number;
  creator: BenchDevice;
  /** The creator's MLS state at `epoch` (to encrypt messages). */
  state: ClientState;
  suite: CipherSuiteName;
  /** The JSON body of the commit that added the members (base64 commit, Welcome and GroupInfo). */
  commitBodyBytes: number;
}

/** A conversation of `devices` (first = creator) whose MLS group holds every device, at epoch 1. */
export async function makeGroup(
  s: BenchServer,
  stack: Stack,
  devices: BenchDevice[],
  suite: CipherSuiteName,
): Promise<BenchGroup> {
  const impl = await suiteImpl(suite);
  const [creator, ...others] = devices as [BenchDevice, ...BenchDevice[]];
  await uploadKeyPackages(s, others, suite, 1);
  const c = callerOf(creator);
  const create = {
    kind: others.length === 1 ? ('direct' as const) : ('group' as const),
    deviceId: creator.deviceId,
    members: others.map((d) => ({ kind: 'user' as const, id: d.userId })),
    cipherSuite: suite,
  };
  const conv: { id: string; externalSender: { identity: string; signatureKey: string } } = stack.conversations
    ? await stack.conversations.create(c, create)
    : await ok(call(s, creator.token, 'POST', '/v1/conversations', create), 201);
  const credential = {
    credentialType: 'basic' as const,
    identity: new TextEncoder().encode(deviceIdentity('default', creator.deviceId)),
  };
  const own = await generateKeyPackageWithKey(
    credential,
    defaultCapabilities(),
    defaultLifetime,
    [],
    creator.keys,
    impl,
  );
  // The tenant's external sender in the group's extensions, as the SDK creates groups (the server checks it).
  const external = {
    credential: {
      credentialType: 'basic' as const,
      identity: new Uint8Array(Buffer.from(conv.externalSender.identity, 'base64')),
    },
    signaturePublicKey: new Uint8Array(Buffer.from(conv.externalSender.signatureKey, 'base64')),
  };
  const state0 = await createGroup(
    new TextEncoder().encode(conv.id),
    own.publicPackage,
    own.privatePackage,
    [{ extensionType: 'external_senders', extensionData: encodeExternalSender(external) }],
    impl,
  );
  const claimed = stack.app
    ? (
        (await ok(
          call(s, creator.token, 'POST', '/v1/messaging/key-packages/claim', {
            conversationId: conv.id,
            deviceIds: others.map((d) => d.deviceId),
            cipherSuite: suite,
          }),
          200,
        )) as { items: { keyPackage: string }[] }
      ).items.map((i) => ({ keyPackage: new Uint8Array(Buffer.from(i.keyPackage, 'base64')) }))
    : await s.h.app.store.transaction((tx) =>
        new StoreDeviceDirectory(
          new KeyPackageService({ store: s.h.app.store, clock: () => new Date(), newId: uuidv7, lowThreshold: 0 }),
        ).claimKeyPackages(
          tx,
          'default',
          others.map((d) => d.deviceId),
          suite,
        ),
      );
  if (claimed.length !== others.length) throw new Error('a member device had no key package');
  const adds = claimed.map((k) => {
    const m = decodeMlsMessage(k.keyPackage, 0)![0];
    if (m.wireformat !== 'mls_key_package') throw new Error('claimed bytes are not a key package');
    return { proposalType: 'add' as const, add: { keyPackage: m.keyPackage } };
  });
  const made = await createCommit(
    { state: state0, cipherSuite: impl },
    { extraProposals: adds, ratchetTreeExtension: true, wireAsPublicMessage: true },
  );
  const groupInfo = await createGroupInfoWithExternalPubAndRatchetTree(made.newState, [], impl);
  const post = {
    deviceId: creator.deviceId,
    epoch: 0,
    commit: encodeMlsMessage(made.commit),
    welcome: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: made.welcome! }),
    groupInfo: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_group_info', groupInfo }),
  };
  const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');
  const commitBodyBytes = JSON.stringify({
    ...post,
    commit: b64(post.commit),
    welcome: b64(post.welcome),
    groupInfo: b64(post.groupInfo),
  }).length;
  const r: { epoch: number } = stack.commits
    ? await stack.commits.commit(c, conv.id, post)
    : await ok(
        call(s, creator.token, 'POST', `/v1/conversations/${conv.id}/commits`, {
          ...post,
          commit: b64(post.commit),
          welcome: b64(post.welcome),
          groupInfo: b64(post.groupInfo),
        }),
        201,
      );
  return { id: conv.id, epoch: r.epoch, creator, state: made.newState, suite, commitBodyBytes };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function ok<T = any>(p: Promise<{ status: number; body: T; text: string }>, status: number): Promise<T> {
  const r = await p;
  if (r.status !== status) throw new Error(`answered ${r.status}: ${r.text}`);
  return r.body;
}

/** `n` real application messages (1 KiB payload each) of the group's creator, encoded (base64). */
export async function messagesOf(g: BenchGroup, n: number, payloadBytes = 1024): Promise<string[]> {
  const impl = await suiteImpl(g.suite);
  const payload = new Uint8Array(payloadBytes).fill(42);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await createApplicationMessage(g.state, payload, impl);
    g.state = r.newState;
    const bytes = encodeMlsMessage({
      version: 'mls10',
      wireformat: 'mls_private_message',
      privateMessage: r.privateMessage,
    });
    out.push(Buffer.from(bytes).toString('base64'));
  }
  return out;
}
