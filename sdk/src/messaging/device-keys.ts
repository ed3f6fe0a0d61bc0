/**
 * This device: its registration (Ed25519 signature key pair from the cipher suite implementation,
 * `POST /v1/messaging/devices`) and its key packages (uploaded per suite with a last-resort one,
 * replenished when the server counts fewer than the low mark). Private halves stay in the key store.
 */
import { CIPHER_SUITES, DEFAULT_CIPHER_SUITE, type CipherSuiteName } from '../cipher-suites.js';
import { fromBase64, toBase64 } from '../encoding.js';
import { getJson, putJson, type KeyStore } from '../keystore/key-store.js';
import { seg, type Http } from './http.js';
import { decodePrivatePackage, encodePrivatePackage, newKeyPackage, suiteImpl, type SignatureKeyPair } from './mls.js';
import type { MessagingDeviceView } from './wire-types.js';

const DEVICE = 'device';

/** The registered device as stored (the private key never leaves the key store). */
export interface DeviceRecord {
  deviceId: string;
  tenantId: string;
  person: { kind: 'user' | 'patient'; id: string };
  signaturePublicKey: string;
  signaturePrivateKey: string;
}

export interface KeyPackageCounts {
  counts: Partial<Record<CipherSuiteName, { available: number; lastResort: boolean }>>;
}

export class DeviceKeys {
  private record: DeviceRecord | null = null;

  constructor(
    private readonly http: Http,
    private readonly store: KeyStore,
    /** Suites to keep key packages of, and how many (the server's low mark is 10 by default). */
    private readonly suites: readonly CipherSuiteName[] = CIPHER_SUITES,
    private readonly target = 20,
  ) {}

  async load(): Promise<DeviceRecord | null> {
    this.record ??= (await getJson<DeviceRecord>(this.store, DEVICE)) ?? null;
    return this.record;
  }

  /** The registered device; throws before registration. */
  get device(): DeviceRecord {
    if (!this.record) throw new Error('this client has no registered device yet: call registerDevice() first');
    return this.record;
  }

  get keyPair(): SignatureKeyPair {
    return {
      publicKey: fromBase64(this.device.signaturePublicKey)!,
      signKey: fromBase64(this.device.signaturePrivateKey)!,
    };
  }

  /** Registers this client as a messaging device of the signed-in person (once; later calls return it). */
  async register(name: string, platform: 'ios' | 'android' | 'web' | 'cli'): Promise<DeviceRecord> {
    const existing = await this.load();
    if (existing) return existing;
    const keys = await (await suiteImpl(DEFAULT_CIPHER_SUITE)).signature.keygen();
    const view = await this.http.post<MessagingDeviceView>('/v1/messaging/devices', {
      name,
      platform,
      signatureKey: toBase64(keys.publicKey),
    });
    this.record = {
      deviceId: view.deviceId,
      tenantId: view.tenantId,
      person: view.person,
      signaturePublicKey: toBase64(keys.publicKey),
      signaturePrivateKey: toBase64(keys.signKey),
    };
    await putJson(this.store, DEVICE, this.record);
    return this.record;
  }

  counts(): Promise<KeyPackageCounts> {
    return this.http.get<KeyPackageCounts>(`/v1/messaging/devices/${seg(this.device.deviceId)}/key-packages`);
  }

  /** Uploads `count` key packages of `suite` (and a last-resort one when asked). */
  async upload(suite: CipherSuiteName, count: number, lastResort: boolean): Promise<void> {
    const { deviceId, tenantId } = this.device;
    const made = [];
    for (let i = 0; i < count; i++) made.push(await newKeyPackage(suite, tenantId, deviceId, this.keyPair));
    const last = lastResort ? await newKeyPackage(suite, tenantId, deviceId, this.keyPair) : null;
    // Private halves first: a package the server hands out must always be openable here.
    for (const kp of made)
      await this.store.put(`kp/${kp.ref}`, utf8Json(encodePrivatePackage(kp.privatePackage, kp.encoded, suite)));
    if (last)
      await this.store.put(
        `kp/${last.ref}`,
        utf8Json(encodePrivatePackage(last.privatePackage, last.encoded, suite, true)),
      );
    if (!made.length && !last) return;
    await this.http.post(`/v1/messaging/devices/${seg(deviceId)}/key-packages`, {
      keyPackages: made.length ? made.map((k) => k.encoded) : [last!.encoded],
      ...(last && made.length ? { lastResort: last.encoded } : {}),
    });
  }

  /** Tops up every suite to the target and uploads a last-resort package where none is. */
  async replenish(): Promise<void> {
    const { counts } = await this.counts();
    for (const suite of this.suites) {
      const c = counts[suite] ?? { available: 0, lastResort: false };
      const missing = Math.max(0, this.target - c.available);
      if (missing > 0 || !c.lastResort) await this.upload(suite, Math.max(missing, 1), !c.lastResort);
    }
  }

  /** The private key package of a reference (hex), or undefined. */
  async privatePackage(ref: string) {
    const v = await this.store.get(`kp/${ref}`);
    return v ? decodePrivatePackage(new TextDecoder().decode(v)) : undefined;
  }

  /** A used key package is deleted, except a last-resort one (the server may hand it out again). */
  async consumed(ref: string): Promise<void> {
    const p = await this.privatePackage(ref);
    if (p && !p.lastResort) await this.store.delete(`kp/${ref}`);
  }
}

const utf8Json = (s: string) => new TextEncoder().encode(s);
