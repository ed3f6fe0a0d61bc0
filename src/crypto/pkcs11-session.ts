import { createRequire } from 'node:module';
import type * as Pkcs11Types from 'pkcs11js';
import { AppError } from '../core/errors.js';

/**
 * The slice of PKCS#11 (via pkcs11js) the HSM key provider uses: one logged-in R/W session on the
 * configured token, plus object lookup by label. pkcs11js calls are synchronous, so an init/operation
 * pair (C_EncryptInit + C_Encrypt) can never interleave with another in this process.
 */
const require = createRequire(import.meta.url);
type Lib = typeof Pkcs11Types;
let lib: Lib | null = null;
const loadLib = (): Lib => (lib ??= require('pkcs11js') as Lib);

// PKCS#11 3.0 constants that pkcs11js 2.x does not name.
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
export const CKM_EDDSA = 0x1057;
/** DER of the Ed25519 OID 1.3.101.112 (RFC 8410), CKA_EC_PARAMS of an Ed25519 key. */
export const ED25519_PARAMS = Buffer.from('06032b6570', 'hex');

/** A module loaded once per process and library path; C_Initialize/C_Finalize are process-wide. */
const modules = new Map<string, { p11: Pkcs11Types.PKCS11; refs: number }>();

export interface TokenObject {
  handle: Buffer;
  label: string;
  cls: number;
  /**
   * Application data stored with the object (Sealpost: its creation time, ISO 8601, followed by
   * `;retired=<ISO 8601>` once a rotation retired it).
   */
  id: string;
}

export interface Pkcs11Target {
  library: string;
  slot?: number;
  tokenLabel?: string;
  pin: string;
}

export class Pkcs11Session {
  readonly c: Lib;
  private constructor(
    private readonly library: string,
    readonly p11: Pkcs11Types.PKCS11,
    readonly session: Buffer,
  ) {
    this.c = loadLib();
  }

  static open(t: Pkcs11Target): Pkcs11Session {
    if (!t.pin)
      throw new AppError(
        'SP_CRYPTO_HSM_UNAVAILABLE',
        'no PIN configured (SEALPOST_PKCS11_PIN or SEALPOST_PKCS11_PIN_FILE)',
      );
    const c = loadLib();
    let m = modules.get(t.library);
    if (!m) {
      const p11 = new c.PKCS11();
      try {
        p11.load(t.library);
        p11.C_Initialize();
      } catch (e) {
        throw new AppError(
          'SP_CRYPTO_HSM_UNAVAILABLE',
          'cannot load or initialise the PKCS#11 module (check SEALPOST_PKCS11_LIBRARY)',
          { cause: e },
        );
      }
      modules.set(t.library, (m = { p11, refs: 0 }));
    }
    const p11 = m.p11;
    const slots = p11.C_GetSlotList(true);
    const slot = slots.find((s) =>
      t.slot !== undefined
        ? s.readBigUInt64LE(0) === BigInt(t.slot)
        : p11.C_GetTokenInfo(s).label.trim() === t.tokenLabel,
    );
    if (!slot)
      throw new AppError(
        'SP_CRYPTO_HSM_UNAVAILABLE',
        'no initialised token in the configured slot / with the configured label',
      );
    const session = p11.C_OpenSession(slot, c.CKF_RW_SESSION | c.CKF_SERIAL_SESSION);
    try {
      p11.C_Login(session, c.CKU_USER, t.pin);
    } catch (e) {
      // Login state is per application: a second provider in the same process is already logged in.
      if (!/CKR_USER_ALREADY_LOGGED_IN/.test((e as Error).message)) {
        p11.C_CloseSession(session);
        throw new AppError(
          'SP_CRYPTO_HSM_LOGIN_FAILED',
          /PIN_LOCKED/.test((e as Error).message) ? 'the PIN is locked' : 'wrong PIN',
          { cause: e },
        );
      }
    }
    m.refs++;
    return new Pkcs11Session(t.library, p11, session);
  }

  /** Every Sealpost object on the token (label prefix `sealpost:`). */
  objects(): TokenObject[] {
    const { p11, session, c } = this;
    p11.C_FindObjectsInit(session, []);
    const handles: Buffer[] = [];
    try {
      for (let batch = p11.C_FindObjects(session, 100); batch.length; batch = p11.C_FindObjects(session, 100))
        handles.push(...batch);
    } finally {
      p11.C_FindObjectsFinal(session);
    }
    const out: TokenObject[] = [];
    for (const handle of handles) {
      const [label, cls, id] = p11.C_GetAttributeValue(session, handle, [
        { type: c.CKA_LABEL },
        { type: c.CKA_CLASS },
        { type: c.CKA_ID },
      ]);
      const l = (label!.value as Buffer).toString('utf8');
      if (!l.startsWith('sealpost:')) continue;
      out.push({
        handle,
        label: l,
        cls: (cls!.value as Buffer).readUInt32LE(0),
        id: ((id!.value as Buffer | undefined) ?? Buffer.alloc(0)).toString('utf8'),
      });
    }
    return out;
  }

  private secretTemplate(label: string, keyType: number, usage: Pkcs11Types.Template): Pkcs11Types.Template {
    const c = this.c;
    return [
      { type: c.CKA_CLASS, value: c.CKO_SECRET_KEY },
      { type: c.CKA_KEY_TYPE, value: keyType },
      { type: c.CKA_VALUE_LEN, value: 32 },
      { type: c.CKA_TOKEN, value: true },
      { type: c.CKA_PRIVATE, value: true },
      // Never leaves the token, not even wrapped.
      { type: c.CKA_SENSITIVE, value: true },
      { type: c.CKA_EXTRACTABLE, value: false },
      { type: c.CKA_LABEL, value: label },
      { type: c.CKA_ID, value: Buffer.from(new Date().toISOString()) },
      ...usage,
    ];
  }

  /** A non-extractable AES-256 key for GCM encrypt/decrypt (a KEK). */
  createAesKey(label: string): void {
    const c = this.c;
    this.p11.C_GenerateKey(
      this.session,
      { mechanism: c.CKM_AES_KEY_GEN },
      this.secretTemplate(label, c.CKK_AES, [
        { type: c.CKA_ENCRYPT, value: true },
        { type: c.CKA_DECRYPT, value: true },
      ]),
    );
  }

  /** A non-extractable 256-bit HMAC key (MAC root, blind-index roots). */
  createHmacKey(label: string): void {
    const c = this.c;
    this.p11.C_GenerateKey(
      this.session,
      { mechanism: c.CKM_GENERIC_SECRET_KEY_GEN },
      this.secretTemplate(label, c.CKK_GENERIC_SECRET, [{ type: c.CKA_SIGN, value: true }]),
    );
  }

  /** An Ed25519 pair; the private half is non-extractable. */
  createEd25519(label: string): void {
    const c = this.c;
    const id = { type: c.CKA_ID, value: Buffer.from(new Date().toISOString()) };
    this.p11.C_GenerateKeyPair(
      this.session,
      { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN },
      [
        { type: c.CKA_TOKEN, value: true },
        { type: c.CKA_VERIFY, value: true },
        { type: c.CKA_EC_PARAMS, value: ED25519_PARAMS },
        { type: c.CKA_LABEL, value: label },
        id,
      ],
      [
        { type: c.CKA_TOKEN, value: true },
        { type: c.CKA_PRIVATE, value: true },
        { type: c.CKA_SIGN, value: true },
        { type: c.CKA_SENSITIVE, value: true },
        { type: c.CKA_EXTRACTABLE, value: false },
        { type: c.CKA_LABEL, value: label },
        id,
      ],
    );
  }

  /** The application data (CKA_ID) of one object. */
  idOf(handle: Buffer): string {
    const [id] = this.p11.C_GetAttributeValue(this.session, handle, [{ type: this.c.CKA_ID }]);
    return ((id!.value as Buffer | undefined) ?? Buffer.alloc(0)).toString('utf8');
  }

  /** Rewrites an object's application data (CKA_ID, modifiable in PKCS#11). */
  setId(handle: Buffer, id: string): void {
    this.p11.C_SetAttributeValue(this.session, handle, [{ type: this.c.CKA_ID, value: Buffer.from(id) }]);
  }

  hmac(key: Buffer, data: Buffer): Buffer {
    this.p11.C_SignInit(this.session, { mechanism: this.c.CKM_SHA256_HMAC }, key);
    return Buffer.from(this.p11.C_Sign(this.session, data, Buffer.alloc(32)));
  }

  private gcm(iv: Buffer, aad: Buffer): Pkcs11Types.Mechanism {
    return {
      mechanism: this.c.CKM_AES_GCM,
      parameter: { type: this.c.CK_PARAMS_GCM, iv, ivBits: 96, aad, tagBits: 128 } as Pkcs11Types.GcmParams,
    };
  }

  /** AES-GCM inside the token; returns ciphertext ‖ tag. */
  encrypt(key: Buffer, iv: Buffer, aad: Buffer, plaintext: Buffer): Buffer {
    this.p11.C_EncryptInit(this.session, this.gcm(iv, aad), key);
    return Buffer.from(this.p11.C_Encrypt(this.session, plaintext, Buffer.alloc(plaintext.length + 16)));
  }

  /** AES-GCM open inside the token; throws on a wrong tag (never returns unauthenticated bytes). */
  decrypt(key: Buffer, iv: Buffer, aad: Buffer, ctAndTag: Buffer): Buffer {
    this.p11.C_DecryptInit(this.session, this.gcm(iv, aad), key);
    return Buffer.from(this.p11.C_Decrypt(this.session, ctAndTag, Buffer.alloc(ctAndTag.length)));
  }

  signEd25519(key: Buffer, data: Buffer): Buffer {
    this.p11.C_SignInit(this.session, { mechanism: CKM_EDDSA }, key);
    return Buffer.from(this.p11.C_Sign(this.session, data, Buffer.alloc(64)));
  }

  /** Raw 32-byte Ed25519 public key of a public-key object (CKA_EC_POINT, DER OCTET STRING or raw). */
  ed25519Public(handle: Buffer): Buffer {
    const v = this.p11.C_GetAttributeValue(this.session, handle, [{ type: this.c.CKA_EC_POINT }])[0]!.value as Buffer;
    return v.length === 34 && v[0] === 0x04 && v[1] === 0x20 ? v.subarray(2) : v;
  }

  destroy(handle: Buffer): void {
    this.p11.C_DestroyObject(this.session, handle);
  }

  close(): void {
    const m = modules.get(this.library);
    try {
      this.p11.C_CloseSession(this.session);
    } catch {
      /* already closed */
    }
    if (m && --m.refs <= 0) {
      modules.delete(this.library);
      try {
        this.p11.C_Finalize();
      } catch {
        /* already finalised */
      }
    }
  }
}
