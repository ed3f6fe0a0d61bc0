import type { Store, StoreTx } from '../store/store.js';
import type { DeviceOwner } from '../core/device-service.js';
import { audit, type RequestContext } from '../core/context.js';
import { AppError } from '../core/errors.js';
import {
  CIPHER_SUITES,
  deviceIdentity,
  type CipherSuiteName,
  type ClaimedKeyPackage,
  type MessageFeed,
  type Person,
} from './messaging-types.js';
import { memberConversation } from './conversation-access.js';
import { requireOwnDevice } from './device-registry.js';
import { validateKeyPackage, type ValidKeyPackage } from './key-packages-validation.js';

/** Per suite: single-use packages left and whether a last-resort one is held. */
export type KeyPackageCounts = Record<CipherSuiteName, { available: number; lastResort: boolean }>;

export interface KeyPackageDeps {
  store: Store;
  clock: () => Date;
  newId: () => string;
  /** SEALPOST_MESSAGING_KEY_PACKAGE_LOW: below this many single-use packages a device is told. */
  lowThreshold: number;
  /** Live delivery (tells the device's connection); absent: only the audit entry. */
  feed?: Pick<MessageFeed, 'keyPackagesLow'>;
  /** Most packages one person may claim per minute through the API (default CLAIMS_PER_MINUTE). */
  claimsPerMinute?: number;
}

/** A person claiming through the API (people only: the route refuses systems). */
export interface KeyPackageClaimer extends RequestContext {
  person: Person;
}

/** The default budget of claimed packages per person per minute: a 100-member group, several devices each. */
export const CLAIMS_PER_MINUTE = 1000;

/** At most this many packages per upload (the route's schema says the same). */
export const MAX_KEY_PACKAGES_PER_UPLOAD = 100;

/**
 * MLS key packages: devices upload them (validated, all-or-nothing), others claim them to add the
 * device to a group. A claim deletes the package (single use, so two groups never share an init
 * key); when none is left the device's last-resort package is handed out and kept.
 */
export class KeyPackageService {
  /** Live delivery; the composition root may set it once built (until then: only the audit entry). */
  feed: Pick<MessageFeed, 'keyPackagesLow'> | undefined;

  constructor(private readonly deps: KeyPackageDeps) {
    this.feed = deps.feed;
  }

  async upload(
    o: DeviceOwner,
    deviceId: string,
    input: { keyPackages: readonly string[]; lastResort?: string },
  ): Promise<{ stored: number; counts: KeyPackageCounts }> {
    const { store, clock, newId } = this.deps;
    if (input.keyPackages.length < 1 || input.keyPackages.length > MAX_KEY_PACKAGES_PER_UPLOAD)
      throw new AppError('SP_REQ_VALIDATION', `1 to ${MAX_KEY_PACKAGES_PER_UPLOAD} key packages`);
    const device = await requireOwnDevice(store.read, o, deviceId);
    const now = clock();
    const expected = {
      identity: new Uint8Array(Buffer.from(deviceIdentity(o.tenantId, deviceId), 'utf8')),
      signatureKey: new Uint8Array(device.signature_key),
    };
    // Validation (signature checks) happens before the transaction: nothing is held while it runs.
    const check = async (b64: string, at: string): Promise<ValidKeyPackage> => {
      const r = await validateKeyPackage(b64, expected, now);
      if ('reason' in r) throw new AppError('SP_MESSAGING_KEY_PACKAGE_INVALID', `keyPackages[${at}]: ${r.reason}`);
      return r;
    };
    const valid: ValidKeyPackage[] = [];
    for (const [i, b64] of input.keyPackages.entries()) valid.push(await check(b64, String(i)));
    const lastResort =
      input.lastResort === undefined
        ? undefined
        : await check(input.lastResort, 'lastResort').catch((e) => {
            throw new AppError(
              'SP_MESSAGING_KEY_PACKAGE_INVALID',
              String(e.detail).replace('keyPackages[lastResort]', 'lastResort'),
            );
          });
    const row = (k: ValidKeyPackage, last: boolean) => ({
      id: newId(),
      tenant_id: o.tenantId,
      device_id: deviceId,
      cipher_suite: k.suite,
      ref: k.ref,
      data: k.bytes,
      last_resort: last ? 1 : 0,
      created_at: now.getTime(),
    });
    const result = await store.transaction(async (tx) => {
      // Revoked or handed to someone else meanwhile: refuse in the writing transaction too.
      await requireOwnDevice(tx, o, deviceId);
      if (lastResort) await tx.messagingDevices.replaceLastResort(row(lastResort, true));
      const stored = await tx.messagingDevices.insertKeyPackages(valid.map((k) => row(k, false)));
      await audit(tx, o, now, {
        action: 'messaging.key_packages.uploaded',
        targetType: 'device',
        targetId: deviceId,
        patientRef: null,
        details: { received: valid.length, stored, lastResort: lastResort?.suite ?? null },
      });
      return { stored: stored + (lastResort ? 1 : 0), counts: await counts(tx, o.tenantId, deviceId) };
    });
    await store.durable();
    return result;
  }

  /** The caller's own device's counts. */
  async counts(o: DeviceOwner, deviceId: string): Promise<{ counts: KeyPackageCounts }> {
    await requireOwnDevice(this.deps.store.read, o, deviceId);
    return { counts: await counts(this.deps.store.read, o.tenantId, deviceId) };
  }

  /**
   * POST /v1/messaging/key-packages/claim: one package of `suite` per device, for adding them to
   * `conversationId`. The caller must be on its roster (else 404 SP_CONVERSATION_NOT_FOUND), the
   * suite must be the conversation's (else 400 SP_REQ_VALIDATION), and every device must be a
   * device of a roster person or of the caller (else 403 SP_MESSAGING_NOT_IN_ROSTER); a revoked
   * one is only `missing`. At most `claimsPerMinute` packages per person per minute (429
   * SP_MESSAGING_RATE_LIMITED). A refused claim claims nothing and counts nothing.
   */
  async claim(
    ctx: KeyPackageClaimer,
    conversationId: string,
    deviceIds: readonly string[],
    suite: CipherSuiteName,
  ): Promise<{ items: { deviceId: string; keyPackage: string; lastResort: boolean }[]; missing: string[] }> {
    const { store } = this.deps;
    const unique = [...new Set(deviceIds)];
    const { items, low } = await store.transaction(async (tx) => {
      const eligible = await this.eligible(tx, ctx, conversationId, unique, suite);
      const windowMs = 60_000;
      const key = `kp-claim:${ctx.tenantId}:${ctx.person.kind}:${ctx.person.id}`;
      const used = await tx.messagingDevices.countClaims(key, eligible.length, this.deps.clock().getTime(), windowMs);
      if (used > (this.deps.claimsPerMinute ?? CLAIMS_PER_MINUTE)) throw new AppError('SP_MESSAGING_RATE_LIMITED');
      return this.claimInTx(tx, ctx, eligible, suite);
    });
    await store.durable();
    for (const id of low) this.tellLow(ctx.tenantId, id, suite);
    const got = new Set(items.map((i) => i.deviceId));
    return {
      items: items.map((i) => ({
        deviceId: i.deviceId,
        keyPackage: Buffer.from(i.keyPackage).toString('base64'),
        lastResort: i.lastResort,
      })),
      missing: unique.filter((id) => !got.has(id)),
    };
  }

  /** The active devices of `deviceIds` the caller may claim for the conversation (see `claim`). */
  private async eligible(
    tx: StoreTx,
    ctx: KeyPackageClaimer,
    conversationId: string,
    deviceIds: readonly string[],
    suite: CipherSuiteName,
  ): Promise<string[]> {
    // The conversations part decides membership (404 for strangers: never confirm it exists).
    const conv = await memberConversation(tx, { ...ctx, roles: [] }, conversationId);
    if (conv.cipher_suite !== suite)
      throw new AppError('SP_REQ_VALIDATION', `cipherSuite: the conversation's is ${conv.cipher_suite}`);
    const roster = new Set(
      (await tx.conversations.members(ctx.tenantId, conversationId))
        .filter((m) => m.removed_at === null)
        .map((m) => `${m.person_kind}:${m.person_id}`),
    );
    roster.add(`${ctx.person.kind}:${ctx.person.id}`);
    const out: string[] = [];
    for (const [i, deviceId] of deviceIds.entries()) {
      const d = await tx.messagingDevices.get(ctx.tenantId, deviceId);
      if (!d || !roster.has(`${d.person_kind}:${d.person_id}`))
        throw new AppError('SP_MESSAGING_NOT_IN_ROSTER', `deviceIds[${i}]: not a device of this conversation's roster`);
      if (d.revoked_at == null) out.push(deviceId);
    }
    return out;
  }

  /** Tells a device's live connection that its packages run low (never throws). */
  tellLow(tenantId: string, deviceId: string, suite: CipherSuiteName): void {
    try {
      this.feed?.keyPackagesLow?.(tenantId, deviceId, suite);
    } catch {
      // A nudge; the audit entry stays, and the next claim tells again.
    }
  }

  /**
   * Claims in `tx` (see DeviceDirectory.claimKeyPackages): duplicates in `deviceIds` count once;
   * inactive or unknown devices and devices with no package are left out. Audits the claim, and a
   * `messaging.key_packages.low` entry for each device a single-use claim left below the threshold.
   * `low` lists the devices to tell once the transaction committed: those, and those that had to
   * hand out their last-resort package (told each time, audited only by the claim's entry).
   */
  async claimInTx(
    tx: StoreTx,
    ctx: RequestContext,
    deviceIds: readonly string[],
    suite: CipherSuiteName,
  ): Promise<{ items: ClaimedKeyPackage[]; low: string[] }> {
    const now = this.deps.clock();
    const items: ClaimedKeyPackage[] = [];
    const low: string[] = [];
    const repo = tx.messagingDevices;
    for (const deviceId of [...new Set(deviceIds)]) {
      const d = await repo.get(ctx.tenantId, deviceId);
      if (!d || d.revoked_at != null) continue;
      const got = await repo.claim(ctx.tenantId, deviceId, suite);
      if (!got) continue;
      items.push({ deviceId, keyPackage: new Uint8Array(got.data), lastResort: got.lastResort });
      if (got.lastResort) {
        if (this.deps.lowThreshold > 0) low.push(deviceId);
        continue;
      }
      const available = await repo.available(ctx.tenantId, deviceId, suite);
      if (available < this.deps.lowThreshold) {
        low.push(deviceId);
        await audit(tx, ctx, now, {
          action: 'messaging.key_packages.low',
          targetType: 'device',
          targetId: deviceId,
          patientRef: null,
          details: { cipherSuite: suite, available },
        });
      }
    }
    if (items.length)
      await audit(tx, ctx, now, {
        action: 'messaging.key_packages.claimed',
        targetType: 'device',
        targetId: items.map((i) => i.deviceId).join(','),
        patientRef: null,
        details: {
          cipherSuite: suite,
          devices: items.length,
          lastResort: items.filter((i) => i.lastResort).length,
        },
      });
    return { items, low };
  }
}

async function counts(tx: Pick<StoreTx, 'messagingDevices'>, tenantId: string, deviceId: string) {
  const out = Object.fromEntries(
    CIPHER_SUITES.map((s) => [s, { available: 0, lastResort: false }]),
  ) as KeyPackageCounts;
  for (const r of await tx.messagingDevices.counts(tenantId, deviceId)) {
    const c = out[r.cipher_suite as CipherSuiteName];
    if (!c) continue;
    if (r.last_resort) c.lastResort = r.n > 0;
    else c.available = r.n;
  }
  return out;
}
