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
  /** Registrations of this id so far: alarm ids are unique per registration. */
  generation: number;
}

/** What `PATCH /v1/medical-devices/{id}` may change (a new certificate is a removal and a new registration). */
export interface MedicalDeviceChange {
  location?: string;
  /** null: no longer monitors a patient. */
  patientId?: string | null;
  /** null: its alarms go where the patient or location says. */
  target?: string | null;
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
    generation: Number(r.generation),
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
    const target = input.target === undefined ? null : checkTarget(input.target);
    const patientId = checkPatientId(input.patientId ?? null);
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
      generation: 1,
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
      // A new registration of a removed id: alarm ids start afresh (device_alarms is keyed by it).
      if (existing) row.generation = Number(existing.generation) + 1;
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

  /** The tenant's active devices by id; `cursor` is the `nextCursor` of the page before. */
  async list(
    ctx: RequestContext,
    o: { limit: number; cursor?: string },
  ): Promise<{ items: MedicalDeviceView[]; nextCursor: string | null }> {
    if (o.cursor !== undefined && !DEVICE_ID.test(o.cursor)) throw new AppError('SP_MEDDEVICE_INVALID', 'cursor');
    const rows = await this.deps.store.read.medicalDevices.listActive(ctx.tenantId, {
      after: o.cursor,
      limit: o.limit + 1,
    });
    const page = rows.slice(0, o.limit);
    return { items: page.map(deviceView), nextCursor: rows.length > o.limit ? page[page.length - 1]!.id : null };
  }

  /**
   * Changes where an active device is and where its alarms go (audited `medical_device.changed`
   * with the names of the changed fields only). Its certificate, kind and alarm ids stay.
   */
  async change(ctx: RequestContext, id: string, c: MedicalDeviceChange): Promise<MedicalDeviceView> {
    const { store, clock } = this.deps;
    if (c.location !== undefined) parseLocation(c.location);
    const target = c.target === undefined || c.target === null ? c.target : checkTarget(c.target);
    const patientId = c.patientId === undefined ? undefined : checkPatientId(c.patientId);
    const now = clock();
    const view = await store.transaction(async (tx) => {
      const cur = await tx.medicalDevices.get(ctx.tenantId, id);
      if (!cur || cur.removed_at != null) throw new AppError('SP_MEDDEVICE_NOT_FOUND');
      if (patientId) {
        const p = await tx.patients.get(ctx.tenantId, patientId);
        if (!p) throw new AppError('SP_MEDDEVICE_INVALID', 'patientId: no such patient');
      }
      const next = {
        location: c.location ?? cur.location,
        patient_id: patientId === undefined ? cur.patient_id : patientId,
        target: target === undefined ? cur.target : target,
        updated_at: now.getTime(),
      };
      const changed = (['location', 'patient_id', 'target'] as const).filter((k) => next[k] !== cur[k]);
      if (changed.length === 0) return deviceView(cur);
      await tx.medicalDevices.update(ctx.tenantId, id, next);
      const patient = next.patient_id ?? cur.patient_id;
      await audit(tx, ctx, now, {
        action: 'medical_device.changed',
        targetType: 'medical_device',
        targetId: id,
        patientRef: patient === null ? null : patientRef(this.deps, ctx.tenantId, patient),
        details: { changed: changed.map((k) => (k === 'patient_id' ? 'patientId' : k)) },
      });
      return deviceView({ ...cur, ...next });
    });
    await store.durable();
    return view;
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

function checkTarget(t: string): string {
  try {
    return formatTarget(parseTarget(t));
  } catch {
    throw new AppError('SP_MEDDEVICE_INVALID', 'target: not a valid alert target');
  }
}

function checkPatientId(p: string | null): string | null {
  if (p !== null && (typeof p !== 'string' || !/^[A-Za-z0-9._:-]{1,100}$/.test(p)))
    throw new AppError('SP_MEDDEVICE_INVALID', 'patientId');
  return p;
}
