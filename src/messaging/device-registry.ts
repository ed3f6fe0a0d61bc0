import type { Store, StoreTx } from '../store/store.js';
import type { MessagingDeviceRow } from '../store/repositories/messaging-device-repository.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { ProofAnchor } from '../crypto/proof-verifier.js';
import type { Signer } from '../crypto/signer.js';
import { ed25519KeyProblem } from '../crypto/signature-checks.js';
import type { DeviceOwner, DevicePlatform, DeviceService } from '../core/device-service.js';
import { audit } from '../core/context.js';
import { AppError } from '../core/errors.js';
import { deviceIdentity, type MessagingDevice, type Person } from './messaging-types.js';
import { signBinding } from './device-binding.js';

/** A key-transparency anchor: the audit entry and its inclusion proof in a signed checkpoint, or not yet. */
export type Anchor = ProofAnchor | { status: 'pending' };

/** A messaging device as every member of the tenant may see it (public data only). */
export interface MessagingDeviceView {
  deviceId: string;
  tenantId: string;
  person: Person;
  /** Standard base64 of the UTF-8 MLS credential identity (`deviceIdentity`). */
  identity: string;
  /** Standard base64 of the raw Ed25519 public key. */
  signatureKey: string;
  status: 'active' | 'revoked';
  binding: string;
  signature: string;
  keyId: string;
  registeredAt: string;
  revokedAt: string | null;
  registration: Anchor;
  revocation: Anchor | null;
}

export interface DeviceRegistryDeps {
  store: Store;
  clock: () => Date;
  devices: DeviceService;
  /** The notary key (the key provider's current signer). */
  signer: () => Signer;
  /** The audit log, for anchors; absent (store-level tests): anchors are `pending`. */
  anchors?: Pick<AuditLog, 'anchorOf'>;
}

const ED25519_KEY = /^[A-Za-z0-9+/]{43}=$/;

/** The person a device owner is (a patient account, not its patient record). */
export const personOf = (o: Pick<DeviceOwner, 'kind' | 'id'>): Person => ({ kind: o.kind, id: o.id });

/** A binding row as the port's `MessagingDevice`. */
export function messagingDevice(r: MessagingDeviceRow): MessagingDevice {
  return {
    tenantId: r.tenant_id,
    deviceId: r.device_id,
    person: { kind: r.person_kind as Person['kind'], id: r.person_id },
    signatureKey: new Uint8Array(r.signature_key),
    status: r.revoked_at == null ? 'active' : 'revoked',
    registeredAt: Number(r.registered_at),
    revokedAt: r.revoked_at == null ? null : Number(r.revoked_at),
  };
}

/**
 * The MLS Authentication Service: registers messaging devices (a `devices` row of the caller and
 * its binding, one transaction) and shows them with their key-transparency anchors. Revocation goes
 * through the existing device paths and `MessagingDeviceRevoker`.
 */
export class DeviceRegistry {
  constructor(private readonly deps: DeviceRegistryDeps) {}

  async register(
    o: DeviceOwner,
    input: { name: string; platform: DevicePlatform; signatureKey: string },
  ): Promise<MessagingDeviceView> {
    if (!ED25519_KEY.test(input.signatureKey)) throw new AppError('SP_MESSAGING_SIGNATURE_KEY_INVALID');
    const signatureKey = Buffer.from(input.signatureKey, 'base64');
    // A small-order or non-canonical point would let signatures verify for more than one key holder.
    if (ed25519KeyProblem(signatureKey)) throw new AppError('SP_MESSAGING_SIGNATURE_KEY_INVALID');
    const { store, clock, devices, signer } = this.deps;
    // Whole milliseconds: the binding's issuedAt, the row and the audit entry name the same instant.
    const now = new Date(clock().getTime());
    const row = await store.transaction(async (tx) => {
      const device = await devices.registerInTx(tx, o, { name: input.name, platform: input.platform }, now);
      const signed = await signBinding(signer(), {
        tenantId: o.tenantId,
        person: personOf(o),
        deviceId: device.id,
        signatureKey,
        issuedAt: now,
      });
      const r: MessagingDeviceRow = {
        tenant_id: o.tenantId,
        device_id: device.id,
        person_kind: o.kind,
        person_id: o.id,
        signature_key: signatureKey,
        binding: signed.binding,
        signature: signed.signature,
        key_id: signed.keyId,
        binding_hash: signed.bindingHash,
        registered_at: now.getTime(),
        revoked_at: null,
      };
      await tx.messagingDevices.insert(r);
      await audit(tx, o, now, {
        action: 'messaging.device.registered',
        targetType: 'device',
        targetId: device.id,
        patientRef: null,
        details: { bindingHash: signed.bindingHash, keyId: signed.keyId },
      });
      return r;
    });
    await store.durable();
    return this.view(row);
  }

  /** The caller's active messaging devices, oldest first. */
  async mine(o: DeviceOwner): Promise<MessagingDeviceView[]> {
    return this.ofPerson(o.tenantId, personOf(o));
  }

  /** Active messaging devices of a person of the tenant, oldest first (none for an unknown person). */
  async ofPerson(tenantId: string, person: Person): Promise<MessagingDeviceView[]> {
    const rows = await this.deps.store.read.messagingDevices.activeOf(tenantId, person.kind, person.id);
    const out: MessagingDeviceView[] = [];
    for (const r of rows) out.push(await this.view(r));
    return out;
  }

  /** Any messaging device of the tenant, active or revoked; SP_MESSAGING_DEVICE_NOT_FOUND otherwise. */
  async get(tenantId: string, deviceId: string): Promise<MessagingDeviceView> {
    const r = await this.deps.store.read.messagingDevices.get(tenantId, deviceId);
    if (!r) throw new AppError('SP_MESSAGING_DEVICE_NOT_FOUND');
    return this.view(r);
  }

  private async view(r: MessagingDeviceRow): Promise<MessagingDeviceView> {
    const anchor = async (action: string, at: number): Promise<Anchor> =>
      // No entry (a row written around the log) is never anchored: the SDK refuses the device.
      (await this.deps.anchors?.anchorOf({
        tenantId: r.tenant_id,
        action,
        at,
        targetId: r.device_id,
        patientRef: null,
      })) ?? { status: 'pending' };
    const registeredAt = Number(r.registered_at);
    const revokedAt = r.revoked_at == null ? null : Number(r.revoked_at);
    return {
      deviceId: r.device_id,
      tenantId: r.tenant_id,
      person: { kind: r.person_kind as Person['kind'], id: r.person_id },
      identity: Buffer.from(deviceIdentity(r.tenant_id, r.device_id), 'utf8').toString('base64'),
      signatureKey: Buffer.from(r.signature_key).toString('base64'),
      status: revokedAt == null ? 'active' : 'revoked',
      binding: r.binding,
      signature: Buffer.from(r.signature).toString('base64'),
      keyId: r.key_id,
      registeredAt: new Date(registeredAt).toISOString(),
      revokedAt: revokedAt == null ? null : new Date(revokedAt).toISOString(),
      registration: await anchor('messaging.device.registered', registeredAt),
      revocation: revokedAt == null ? null : await anchor('messaging.device.revoked', revokedAt),
    };
  }
}

/**
 * The caller's own active messaging device, in `tx` (or outside one); SP_MESSAGING_DEVICE_FORBIDDEN
 * for anything else (another person's, revoked, unknown): routes that act as a device call it.
 */
export async function requireOwnDevice(
  tx: Pick<StoreTx, 'messagingDevices'>,
  o: { tenantId: string; kind: string; id: string },
  deviceId: string,
): Promise<MessagingDeviceRow> {
  const r = await tx.messagingDevices.get(o.tenantId, deviceId);
  if (!r || r.revoked_at != null || r.person_kind !== o.kind || r.person_id !== o.id)
    throw new AppError('SP_MESSAGING_DEVICE_FORBIDDEN');
  return r;
}
