import { createPublicKey } from 'node:crypto';
import type { CoreDeps, RequestContext } from './context.js';
import { audit, patientDataKey, patientRef } from './context.js';
import { AppError } from './errors.js';
import { b64url, jwkSet, publicJwk } from '../crypto/notary.js';
import type { NotificationProof } from '../crypto/proof-verifier.js';
import { secretRef, type SignatureSecret } from './signer-service.js';
import type { AuditLog } from '../audit/audit-log.js';

/**
 * Builds the offline-verifiable proof of a notification: the notary signature, the signed fields
 * exactly as signed, the public key, the commitment salt and the sender's signature. The content
 * (PHI) is included only on request, and that disclosure is audited like any other read.
 */
export class ProofService {
  /** `log`: the audit log each proof is anchored in (services built without it give unanchored proofs). */
  constructor(
    private readonly deps: CoreDeps,
    private readonly log?: AuditLog,
  ) {}

  async proof(ctx: RequestContext, id: string, includeContent: boolean): Promise<NotificationProof> {
    const { store, cipher } = this.deps;
    const proof = await store.transaction(async (tx) => {
      const n = await tx.notifications.get(ctx.tenantId, id);
      if (!n) throw new AppError('SP_NOTIFICATION_NOT_FOUND');
      const s = await tx.signers.getSignature(ctx.tenantId, id);
      if (!s) throw new AppError('SP_PROOF_NOT_FOUND', 'the notification was created unsigned');
      const key = this.deps.signing?.publishedKeys().find((k) => k.keyId === s.key_id);
      if (!key) throw new AppError('SP_PROOF_NOT_FOUND', 'its signing key is not published');
      // After erasure the data key is gone: the salt, the sender's signature and the content with it.
      const dataKey = await patientDataKey(this.deps, tx, ctx.tenantId, n.patient_id);
      const secret = dataKey
        ? cipher.decryptJson<SignatureSecret>(dataKey, secretRef(ctx.tenantId, id), s.secret_ct)
        : null;
      const signer = s.sender_signer_id ? await tx.signers.get(ctx.tenantId, s.sender_signer_id) : undefined;
      const out: NotificationProof = {
        format: 'sealpost-proof-v1',
        notificationId: id,
        alg: 'EdDSA',
        keyId: s.key_id,
        signature: b64url(s.signature),
        signed: s.signed,
        fields: JSON.parse(s.signed),
        publicKey: publicJwk(key.publicKey, key.keyId, key.alg),
        salt: secret?.salt ?? null,
        sender: signer
          ? {
              signerId: signer.id,
              personId: signer.person_id,
              alg: signer.alg,
              signature: secret?.senderSignature ?? null,
              publicKey: publicJwk(
                createPublicKey({ key: Buffer.from(signer.public_key), format: 'der', type: 'spki' }),
                signer.id,
                signer.alg,
              ),
            }
          : null,
      };
      if (includeContent && dataKey) {
        out.content = {
          patientId: n.patient_id,
          data: cipher.decryptJson(
            dataKey,
            { tenantId: ctx.tenantId, table: 'notifications', rowId: id, field: 'data' },
            n.data_ct,
          ),
        };
        if (secret?.senderRequest) out.request = secret.senderRequest;
      }
      await audit(tx, ctx, this.deps.clock(), {
        action: 'notification.proof_read',
        targetType: 'notification',
        targetId: id,
        patientRef: patientRef(this.deps, ctx.tenantId, n.patient_id),
        details: { content: out.content !== undefined },
      });
      return out;
    });
    // A disclosure of content must be on the record before it is answered.
    await store.durable();
    if (this.log) {
      // Outside the transaction above: anchoring may integrate the log and sign a checkpoint.
      const f = proof.fields as { tenant: string; patientRef: string; createdAt: string };
      const anchor = await this.log.anchor({
        tenantId: f.tenant,
        patientRef: f.patientRef,
        at: Date.parse(f.createdAt),
        notificationId: id,
      });
      // A notification created before anchoring existed has no committing entry: its proof says so by omission.
      if (anchor) proof.anchor = anchor;
    }
    return proof;
  }

  /** The JWK Set of every published notary key (current and retired), and the checkpoint verifier key. */
  keys() {
    return {
      ...jwkSet(this.deps.signing?.publishedKeys() ?? []),
      ...(this.log ? { checkpointKey: this.log.verifierKey() } : {}),
    };
  }
}
