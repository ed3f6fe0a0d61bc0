/**
 * Which devices this client trusts, and the ts-mls AuthenticationService built on it. Every
 * credential ts-mls meets (a member's leaf in a tree, a commit's new leaf, an added key package, the
 * group's external sender) passes through `validateCredential`: a device credential is trusted only
 * after the key-transparency checks of `verifyDevice` against the trust anchors.
 *
 * Trust anchors: the keys given in the options (pinned, e.g. shipped with an app) or, without them,
 * trust on first use: the first `/.well-known/sealpost-keys.json` this client fetches is stored in
 * its key store, and its checkpoint key never changes afterwards (a different one is refused).
 * Notary keys published later (a rotation) are added when a binding names an unknown key id: a
 * binding signed by a key the server slipped in would still need a registration entry in the log
 * the pinned checkpoint key signs, so it cannot be hidden.
 */
import type { AuthenticationService, Credential } from 'ts-mls';
import { bytesEqual, toBase64 } from '../encoding.js';
import { getJson, putJson, type KeyStore } from '../keystore/key-store.js';
import {
  DeviceVerificationError,
  verifyDevice,
  type TrustAnchors,
  type VerifiedDevice,
} from '../transparency/device-verifier.js';
import { seg, type Http } from './http.js';
import { parseDeviceIdentity } from './mls.js';
import type { MessagingDeviceView, PublishedKeys } from './wire-types.js';

const ANCHORS = 'trust/anchors';
const EXTERNAL_SENDERS = 'trust/external-senders';
/** A verified device is re-checked after this long (a revocation shows up at the latest then). */
const VERIFIED_TTL_MS = 60_000;

export class TrustManager {
  private anchorsP: Promise<TrustAnchors> | null = null;
  private readonly verified = new Map<string, { at: number; device: VerifiedDevice }>();
  /** Allowed external senders (base64 identity and key), kept in the key store across restarts. */
  private externalSenders: { identity: string; signatureKey: string }[] | null = null;
  /** The last refusal, to explain a ts-mls validation failure to the application. */
  lastRefusal: DeviceVerificationError | null = null;

  constructor(
    private readonly http: Http,
    private readonly store: KeyStore,
    private readonly tenantId: () => string,
    private readonly pinned?: TrustAnchors,
    /** The clock (epoch ms); tests move it. */
    private readonly now: () => number = Date.now,
  ) {}

  /** The anchors: pinned, stored on first use, or fetched now and stored (trust on first use). */
  anchors(): Promise<TrustAnchors> {
    this.anchorsP ??= (async () => {
      if (this.pinned) return this.pinned;
      const stored = await getJson<TrustAnchors>(this.store, ANCHORS);
      if (stored) return stored;
      const keys = await this.http.get<PublishedKeys>('/.well-known/sealpost-keys.json');
      if (!keys.checkpointKey)
        throw new Error('the server publishes no checkpoint key: key transparency is impossible');
      const fresh: TrustAnchors = { notaryKeys: keys.keys, checkpointKey: keys.checkpointKey };
      await putJson(this.store, ANCHORS, fresh);
      return fresh;
    })();
    this.anchorsP.catch(() => (this.anchorsP = null));
    return this.anchorsP;
  }

  /** Adds notary keys published since (same checkpoint key only); true when one was added. */
  private async refreshNotaryKeys(kid: string): Promise<boolean> {
    const current = await this.anchors();
    if (current.notaryKeys.some((k) => k.kid === kid)) return false;
    const keys = await this.http.get<PublishedKeys>('/.well-known/sealpost-keys.json');
    const added = keys.keys.filter((k) => k.kid && !current.notaryKeys.some((c) => c.kid === k.kid));
    if (!added.length) return false;
    // Trust on first use of the new keys too: each vouches only for bindings issued since it was seen.
    const seen = new Date(this.now()).toISOString();
    const firstSeen = { ...current.firstSeen, ...Object.fromEntries(added.map((k) => [k.kid, seen])) };
    const next: TrustAnchors = { ...current, notaryKeys: [...current.notaryKeys, ...added], firstSeen };
    if (!this.pinned) await putJson(this.store, ANCHORS, next);
    this.anchorsP = Promise.resolve(next);
    return true;
  }

  /** The group's external sender (the server), accepted for its credential only (see the client's proposal rules). */
  async allowExternalSender(identity: Uint8Array, signatureKey: Uint8Array): Promise<void> {
    const list = await this.allowedExternalSenders();
    const e = { identity: toBase64(identity), signatureKey: toBase64(signatureKey) };
    if (list.some((x) => x.identity === e.identity && x.signatureKey === e.signatureKey)) return;
    list.push(e);
    await putJson(this.store, EXTERNAL_SENDERS, list);
  }

  /**
   * Whether an identity or signature key is an allowed external sender (the server's key). Such a
   * key may be the group's external sender only, never a member's leaf (see roster-guard.ts).
   */
  async isExternalSender(identity: Uint8Array, signatureKey: Uint8Array): Promise<boolean> {
    const [ident, key] = [toBase64(identity), toBase64(signatureKey)];
    return (await this.allowedExternalSenders()).some((e) => e.identity === ident || e.signatureKey === key);
  }

  private async allowedExternalSenders(): Promise<{ identity: string; signatureKey: string }[]> {
    this.externalSenders ??=
      (await getJson<{ identity: string; signatureKey: string }[]>(this.store, EXTERNAL_SENDERS)) ?? [];
    return this.externalSenders;
  }

  /**
   * Fetches and verifies a device of this tenant; throws DeviceVerificationError when it is not
   * trusted. `signatureKey` is the key its MLS leaf or key package carries; `fresh` skips the
   * short cache (before adding a device, so a revocation counts at once).
   */
  async verify(deviceId: string, signatureKey?: Uint8Array, fresh = false): Promise<VerifiedDevice> {
    const hit = fresh ? undefined : this.verified.get(deviceId);
    if (hit && Date.now() - hit.at < VERIFIED_TTL_MS) {
      if (signatureKey && !bytesEqual(signatureKey, hit.device.signatureKey))
        throw new DeviceVerificationError(deviceId, 'the MLS leaf uses another signature key than the binding');
      return hit.device;
    }
    let view: MessagingDeviceView;
    try {
      view = await this.http.get<MessagingDeviceView>(`/v1/messaging/devices/${seg(deviceId)}`);
    } catch (e) {
      throw new DeviceVerificationError(deviceId, `the server does not show the device (${(e as Error).message})`);
    }
    const expect = { tenantId: this.tenantId(), deviceId, signatureKey };
    let device: VerifiedDevice;
    try {
      device = await verifyDevice(view, await this.anchors(), expect);
    } catch (e) {
      if (!(e instanceof DeviceVerificationError) || !(await this.refreshNotaryKeys(view.keyId))) throw e;
      device = await verifyDevice(view, await this.anchors(), expect);
    }
    this.verified.set(deviceId, { at: Date.now(), device });
    return device;
  }

  /** Forgets what was verified (e.g. after a revocation event). */
  forget(deviceId?: string): void {
    if (deviceId) this.verified.delete(deviceId);
    else this.verified.clear();
  }

  /** The ts-mls AuthenticationService of this client. */
  authService(): AuthenticationService {
    return {
      validateCredential: async (credential: Credential, signaturePublicKey: Uint8Array) => {
        if (credential.credentialType !== 'basic') return false;
        const [ident, key] = [toBase64(credential.identity), toBase64(signaturePublicKey)];
        if ((await this.allowedExternalSenders()).some((e) => e.identity === ident && e.signatureKey === key))
          return true;
        const id = parseDeviceIdentity(credential.identity);
        if (!id || id.tenantId !== this.tenantId()) return false;
        try {
          await this.verify(id.deviceId, signaturePublicKey);
          return true;
        } catch (e) {
          this.lastRefusal =
            e instanceof DeviceVerificationError ? e : new DeviceVerificationError(id.deviceId, String(e));
          return false;
        }
      },
    };
  }
}
