import { X509Certificate } from 'node:crypto';
import type { CoreDeps, RequestContext } from '../../core/context.js';
import { audit, patientRef } from '../../core/context.js';
import { AppError } from '../../core/errors.js';
import type { MedicalDeviceRow } from '../../store/repositories/medical-device-repository.js';
import { formatTarget, parseTarget } from '../alert-types.js';

export const MEDICAL_DEVICE_KINDS = ['monitor', 'paging-gateway'] as const;
export type MedicalDeviceKind = (typeof MEDICAL_DEVICE_KINDS)[number];

export interface MedicalDeviceInput {
  /** Caller-chosen, e.g. `mon-4w-12`: also the device's segment of its MQTT topics. */
  id: string;
  kind?: MedicalDeviceKind;
  /** PEM client certificate the device presents (its SHA-256 identifies it to the broker). */
  certPem: string;
  /** `<unit>/<bed>`, e.g. `4-west/12`: its alarms go to `charge_nurse@<unit>` unless a patient or target says otherwise. */
  location: string;
  patientId?: string;
  /** A target string overriding where the device's alarms go. */
  target?: string;
}

export interface MedicalDeviceView {
  id: string;
  tenantId: string;
  kind: MedicalDeviceKind;
  certSha256: string;
  location: string;
  patientId: string | null;
  target: string | null;
  status: 'online' | 'offline' | 'unknown';
  lastSeenAt: string | null;
  createdAt: string;
  removedAt: string | null;
}

/** A device id is an MQTT topic level: no `/`, `+`, `#` or `$`, nothing a log could misread. */
export const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** `<unit>/<bed>`: the unit is a target's unit name (`charge_nurse@<unit>`), the bed a short label. */
const LOCATION = /^([A-Za-z0-9][A-Za-z0-9_.:-]{0,99})\/([A-Za-z0-9][A-Za-z0-9_.-]{0,31})$/;

const iso = (ms: number | null) => (ms == null ? null : new Date(Number(ms)).toISOString());

export function deviceView(r: MedicalDeviceRow): MedicalDeviceView {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    kind: r.kind as MedicalDeviceKind,
    certSha256: r.cert_sha256,
    location: r.location,
    patientId: r.patient_id,
    target: r.target,
    status: r.status as MedicalDeviceView['status'],
    lastSeenAt: iso(r.last_seen_at),
    createdAt: iso(r.created_at)!,
    removedAt: iso(r.removed_at),
  };
}

/** The unit and bed of a location (`4-west/12` → `4-west`, `12`); throws on a malformed one. */
export function parseLocation(location: string): { unit: string; bed: string } {
  const m = LOCATION.exec(location);
  if (!m) throw new AppError('SP_MEDDEVICE_INVALID', 'location: expected <unit>/<bed>, e.g. 4-west/12');
  return { unit: m[1]!, bed: m[2]! };
}

/** SHA-256 (lower-case hex) of a PEM certificate's DER, as TLS peers are identified. */
export function certFingerprint(pem: string): string {
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new AppError('SP_MEDDEVICE_INVALID', 'cert: not a PEM X.509 certificate');
  try {
    return new X509Certificate(pem).fingerprint256.replaceAll(':', '').toLowerCase();
  } catch {
    throw new AppError('SP_MEDDEVICE_INVALID', 'cert: not a PEM X.509 certificate');
  }
}

/**
 * Registered medical devices (monitors, paging gateways) that talk to Sealpost over MQTT. Every
 * registration and removal is audited in its transaction (ids and the certificate fingerprint only).
 */
export class MedicalDeviceService {
  constructor(private readonly deps: CoreDeps) {}

  async add(ctx: RequestContext, input: MedicalDeviceInput): Promise<MedicalDeviceView> {
    const { store, clock } = this.deps;
    if (typeof input.id !== 'string' || !DEVICE_ID.test(input.id))
      throw new AppError('SP_MEDDEVICE_INVALID', 'id: 1-64 letters, digits, ".", "_" or "-"');
    const kind = input.kind ?? 'monitor';
    if (!MEDICAL_DEVICE_KINDS.includes(kind))
      throw new AppError('SP_MEDDEVICE_INVALID', 'kind: monitor or paging-gateway');
    parseLocation(input.location);
    const certSha256 = certFingerprint(input.certPem);
    let target: string | null = null;
    if (input.target !== undefined) {
      try {
        target = formatTarget(parseTarget(input.target));
      } catch {
        throw new AppError('SP_MEDDEVICE_INVALID', 'target: not a valid alert target');
      }
    }
    const patientId = input.patientId ?? null;
    if (patientId !== null && (typeof patientId !== 'string' || !/^[A-Za-z0-9._:-]{1,100}$/.test(patientId)))
      throw new AppError('SP_MEDDEVICE_INVALID', 'patientId');
    const now = clock().getTime();
    const row: MedicalDeviceRow = {
      tenant_id: ctx.tenantId,
      id: input.id,
      kind,
      cert_sha256: certSha256,
      location: input.location,
      patient_id: patientId,
      target,
      status: 'unknown',
      offline_alert_id: null,
      last_seen_at: null,
      created_at: now,
      updated_at: now,
      removed_at: null,
    };
    await store.transaction(async (tx) => {
      if (!(await tx.tenants.exists(ctx.tenantId)))
        throw new AppError('SP_MEDDEVICE_INVALID', 'tenant: no such tenant');
      if (patientId !== null) {
        const p = await tx.patients.get(ctx.tenantId, patientId);
        if (!p) throw new AppError('SP_MEDDEVICE_INVALID', 'patientId: no such patient');
      }
      // The unique indexes guard concurrent registrations; these checks give the clear errors.
      const existing = await tx.medicalDevices.get(ctx.tenantId, row.id);
      if (existing && existing.removed_at == null) throw new AppError('SP_MEDDEVICE_EXISTS');
      if (await tx.medicalDevices.findActiveByCert(certSha256)) throw new AppError('SP_MEDDEVICE_CERT_TAKEN');
      if (existing) await tx.medicalDevices.reRegister(row);
      else await tx.medicalDevices.insert(row);
      await audit(tx, ctx, new Date(now), {
        action: 'medical_device.added',
        targetType: 'medical_device',
        targetId: row.id,
        patientRef: patientId === null ? null : patientRef(this.deps, ctx.tenantId, patientId),
        details: { kind, certSha256, reRegistered: Boolean(existing), targetOverride: target !== null },
      });
    });
    await store.durable();
    return deviceView(row);
  }

  async list(ctx: RequestContext): Promise<MedicalDeviceView[]> {
    return (await this.deps.store.read.medicalDevices.listActive(ctx.tenantId)).map(deviceView);
  }

  async get(ctx: RequestContext, id: string): Promise<MedicalDeviceView> {
    const r = await this.deps.store.read.medicalDevices.get(ctx.tenantId, id);
    if (!r || r.removed_at != null) throw new AppError('SP_MEDDEVICE_NOT_FOUND');
    return deviceView(r);
  }

  async remove(ctx: RequestContext, id: string): Promise<MedicalDeviceView> {
    const { store, clock } = this.deps;
    const now = clock();
    const view = await store.transaction(async (tx) => {
      if (!(await tx.medicalDevices.remove(ctx.tenantId, id, now.getTime())))
        throw new AppError('SP_MEDDEVICE_NOT_FOUND');
      await audit(tx, ctx, now, { action: 'medical_device.removed', targetType: 'medical_device', targetId: id });
      return deviceView((await tx.medicalDevices.get(ctx.tenantId, id))!);
    });
    await store.durable();
    return view;
  }
}
