import type { CoreDeps, RequestContext } from './context.js';
import { audit } from './context.js';
import { AppError } from './errors.js';
import type { StoreTx } from '../store/store.js';
import type { NotificationRow, NotificationSignatureRow, SignerRow } from '../store/rows.js';
import { createPublicKey } from 'node:crypto';
import { detachedSignatureProblem, importPersonKey, type PersonAlg } from '../crypto/signature-checks.js';
import {
  b64url,
  canonicalJson,
  contentCommitment,
  newContentSalt,
  publicJwk,
  signHeader,
  signatureDigest,
  type NotificationHeader,
} from '../crypto/notary.js';

/** A person's detached signature sent with a request: over the RFC 8785 form of the body without `signature`. */
export interface DetachedSignature {
  signerId: string;
  alg: PersonAlg;
  /** base64url; Ed25519: R ‖ S (64 bytes); ES256: IEEE P1363 r ‖ s (64 bytes). */
  signature: string;
}

export interface RegisterSignerInput {
  personId: string;
  alg: PersonAlg;
  publicKeyJwk?: Record<string, unknown>;
  publicKey?: string;
}

export interface SignerView {
  id: string;
  personId: string;
  alg: PersonAlg;
  publicKeyJwk: Record<string, string>;
  thumbprint: string;
  createdAt: string;
  revokedAt: string | null;
}

/** A sender signature that verified, ready to be stored with the notification it created. */
export interface VerifiedSender {
  signer: SignerRow;
  signature: string;
  /** The exact canonical text the person signed. */
  request: string;
  requestBidx: string;
}

/** What the notification's `secret_ct` holds (encrypted under the patient's data key). */
export interface SignatureSecret {
  salt: string;
  senderSignature?: string;
  senderRequest?: string;
}

const iso = (ms: number | null) => (ms == null ? null : new Date(Number(ms)).toISOString());
export const secretRef = (tenantId: string, notificationId: string) => ({
  tenantId,
  table: 'notification_signatures',
  rowId: notificationId,
  field: 'secret',
});

/**
 * Persons' device-held keys and the signatures around notifications: registering keys, checking a
 * sender's detached signature before anything is written, and the notary signature at creation.
 */
export class SignerService {
  constructor(private readonly deps: CoreDeps) {}

  async register(ctx: RequestContext, input: RegisterSignerInput): Promise<SignerView> {
    if ((input.publicKeyJwk === undefined) === (input.publicKey === undefined)) {
      throw new AppError('SP_SIGNER_INVALID_KEY', 'send exactly one of publicKeyJwk and publicKey');
    }
    const key = importPersonKey(input.alg, { jwk: input.publicKeyJwk, key: input.publicKey });
    if (typeof key === 'string') throw new AppError('SP_SIGNER_INVALID_KEY', key);
    const now = this.deps.clock();
    const row: SignerRow = {
      id: this.deps.newId(),
      tenant_id: ctx.tenantId,
      person_id: input.personId,
      alg: input.alg,
      public_key: key.spki,
      thumbprint: key.thumbprint,
      created_at: now.getTime(),
      revoked_at: null,
    };
    await this.deps.store.transaction(async (tx) => {
      if (await tx.signers.findByThumbprint(ctx.tenantId, key.thumbprint)) throw new AppError('SP_SIGNER_KEY_EXISTS');
      await tx.signers.insert(row);
      await audit(tx, ctx, now, {
        action: 'signer.registered',
        targetType: 'signer',
        targetId: row.id,
        details: { alg: input.alg, thumbprint: key.thumbprint },
      });
    });
    await this.deps.store.durable();
    return signerView(row);
  }

  async get(ctx: RequestContext, id: string): Promise<SignerView> {
    const row = await this.deps.store.read.signers.get(ctx.tenantId, id);
    if (!row) throw new AppError('SP_SIGNER_NOT_FOUND');
    return signerView(row);
  }

  /** Revokes a key (a lost device): later requests signed with it are refused; earlier signatures stay on record. */
  async revoke(ctx: RequestContext, id: string): Promise<SignerView> {
    const now = this.deps.clock();
    const row = await this.deps.store.transaction(async (tx) => {
      const r = await tx.signers.get(ctx.tenantId, id);
      if (!r) throw new AppError('SP_SIGNER_NOT_FOUND');
      if (await tx.signers.revoke(ctx.tenantId, id, now.getTime())) {
        await audit(tx, ctx, now, { action: 'signer.revoked', targetType: 'signer', targetId: id });
        return { ...r, revoked_at: now.getTime() };
      }
      return r;
    });
    await this.deps.store.durable();
    return signerView(row);
  }

  /**
   * Checks a request's detached signature inside the creating transaction, before any write: the
   * signer must exist and be unrevoked, the algorithm must be the signer's, the signature must verify
   * over the RFC 8785 canonical form of `request` (the body without `signature`), and the same signed
   * request must not have been accepted before.
   */
  async verifySender(tx: StoreTx, tenantId: string, sig: DetachedSignature, request: unknown): Promise<VerifiedSender> {
    const signer = await tx.signers.get(tenantId, sig.signerId);
    if (!signer || signer.revoked_at != null) throw new AppError('SP_SIGNATURE_UNKNOWN_SIGNER');
    if (signer.alg !== sig.alg) throw new AppError('SP_SIGNATURE_INVALID', "alg is not the signer's algorithm");
    const canonical = canonicalJson(request);
    const publicKey = createPublicKey({ key: Buffer.from(signer.public_key), format: 'der', type: 'spki' });
    const problem = detachedSignatureProblem(sig.alg, publicKey, Buffer.from(canonical, 'utf8'), sig.signature);
    if (problem) throw new AppError('SP_SIGNATURE_INVALID', problem);
    // Keyed (blind-index key): a plain hash of the request would be a guessable hash of PHI.
    const requestBidx = this.deps.cipher.blindIndex(tenantId, 'signed-request', `${signer.id}\n${canonical}`);
    if (await tx.signers.findSignedRequest(tenantId, signer.id, requestBidx))
      throw new AppError('SP_SIGNATURE_REPLAYED');
    return { signer, signature: sig.signature, request: canonical, requestBidx };
  }

  /**
   * The notary signature of a notification being created, as the row to store in the same
   * transaction (null when no notary key is configured). `data` is the validated content exactly as
   * stored encrypted; `ref` the patient's pseudonymous reference (the caller's audit entry carries the same).
   */
  async signatureFor(
    n: NotificationRow,
    ref: string,
    data: unknown,
    dataKey: Buffer,
    sender: VerifiedSender | null,
  ): Promise<NotificationSignatureRow | null> {
    const signing = this.deps.signing;
    if (!signing) return null;
    const salt = newContentSalt();
    const signed = await signHeader<NotificationHeader>(signing.signer(), {
      type: 'sealpost.notification',
      id: n.id,
      tenant: n.tenant_id,
      patientRef: ref,
      notificationType: n.type,
      priority: n.priority,
      createdAt: new Date(Number(n.created_at)).toISOString(),
      contentHash: contentCommitment(salt, { patientId: n.patient_id, data }),
      sender: sender
        ? {
            signerId: sender.signer.id,
            alg: sender.signer.alg,
            signatureDigest: signatureDigest(Buffer.from(sender.signature, 'base64url')),
          }
        : null,
    });
    const secret: SignatureSecret = {
      salt: b64url(salt),
      ...(sender ? { senderSignature: sender.signature, senderRequest: sender.request } : {}),
    };
    return {
      notification_id: n.id,
      tenant_id: n.tenant_id,
      key_id: signed.header.keyId,
      alg: 'EdDSA',
      signed: signed.canonical,
      signature: signed.signature,
      secret_ct: this.deps.cipher.encryptJson(dataKey, secretRef(n.tenant_id, n.id), secret),
      sender_signer_id: sender?.signer.id ?? null,
      sender_request_bidx: sender?.requestBidx ?? null,
      created_at: Number(n.created_at),
    };
  }
}

export function signerView(r: SignerRow): SignerView {
  const publicKey = createPublicKey({ key: Buffer.from(r.public_key), format: 'der', type: 'spki' });
  return {
    id: r.id,
    personId: r.person_id,
    alg: r.alg as PersonAlg,
    publicKeyJwk: publicJwk(publicKey, r.id, r.alg),
    thumbprint: r.thumbprint,
    createdAt: iso(r.created_at)!,
    revokedAt: iso(r.revoked_at),
  };
}
