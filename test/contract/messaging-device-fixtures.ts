import { randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import type { StoreTx } from '../../src/store/store.js';
import { KeyPackageService } from '../../src/messaging/key-packages.js';
import { CIPHER_SUITES } from '../../src/messaging/messaging-types.js';

/** Fixtures of the messaging devices contract tests: rows as registration and uploads write them. */
export const [CLASSIC, XWING] = CIPHER_SUITES;
export const T = 't';
export const NOW = 1_790_000_000_000;

/** A device row and its binding, as registration writes them (the binding's content is not checked here). */
export async function device(tx: StoreTx, id: string, person: string, at = NOW) {
  await tx.tenants.ensure(T, T, at);
  await tx.sessions.insertDevice({
    id,
    tenant_id: T,
    subject_type: 'user',
    subject_id: person,
    platform: 'cli',
    name: 'n',
    push_token_ct: null,
    created_at: at,
    revoked_at: null,
  });
  await tx.messagingDevices.insert({
    tenant_id: T,
    device_id: id,
    person_kind: 'user',
    person_id: person,
    signature_key: randomBytes(32),
    binding: `{"device":"${id}"}`,
    signature: randomBytes(64),
    key_id: 'k1',
    binding_hash: `hash-${id}`,
    registered_at: at,
    revoked_at: null,
  });
}

export const pkg = (deviceId: string, suite: string, lastResort = false, data = randomBytes(48)) => ({
  id: uuidv7(),
  tenant_id: T,
  device_id: deviceId,
  cipher_suite: suite,
  ref: data.toString('hex'),
  data,
  last_resort: lastResort ? 1 : 0,
  created_at: NOW,
});

export const service = (store: KyselyStore, lowThreshold = 10) =>
  new KeyPackageService({ store, clock: () => new Date(NOW), newId: uuidv7, lowThreshold });

/** A conversation row and its roster (user ids), as the conversations part writes them. */
export async function conversation(tx: StoreTx, id: string, members: readonly string[], suite = CLASSIC) {
  await tx.conversations.insert({
    tenant_id: T,
    id,
    kind: 'group',
    cipher_suite: suite,
    epoch: 0,
    latest_seq: 0,
    creator_kind: 'user',
    creator_id: members[0]!,
    patient_id: null,
    lifespan_seconds: null,
    group_info: null,
    created_at: NOW,
  });
  for (const m of members)
    await tx.conversations.addMember({
      tenant_id: T,
      conversation_id: id,
      person_kind: 'user',
      person_id: m,
      added_at: NOW,
      removed_at: null,
    });
}

/** A person claiming key packages through the API. */
export const claimer = (userId: string) => ({
  tenantId: T,
  actor: `user:${userId}`,
  person: { kind: 'user' as const, id: userId },
});
