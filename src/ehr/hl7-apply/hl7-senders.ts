import { X509Certificate } from 'node:crypto';
import type { CoreDeps, RequestContext } from '../../core/context.js';
import { audit } from '../../core/context.js';
import { AppError } from '../../core/errors.js';
import { isValidTimeZone } from '../../core/time-policy.js';
import type { Hl7SenderRow } from '../../store/rows.js';
import type { StoreTx } from '../../store/store.js';

/** A result of test `code` (OBR-4.1) is announced `minutes` after it arrives (a clinician reviews it first). */
export interface ResultHold {
  code: string;
  minutes: number;
}

export interface SenderInput {
  /** MSH-3.1 */
  app: string;
  /** MSH-4.1 */
  facility: string;
  /**
   * The identifier system the sender owns: only PID-3/MRG-1 repetitions with this CX-4 namespace id or
   * universal id (OID) count. Else the MR-typed one, in the system `urn:sealpost:hl7:<MSH-3>|<MSH-4>`.
   */
  patientIdAuthority?: string;
  /** IANA zone of the sender's time stamps that carry no offset, and of the patients it creates (default UTC). */
  timeZone?: string;
  /** ISO 3166 region of phone numbers written without a country code (default US). */
  phoneRegion?: string;
  /**
   * PEM client certificate: a message from this sender must come over TLS with exactly this certificate.
   * Without one, only a loopback peer (or `sealpost hl7 import`) may send as this sender.
   */
  certPem?: string;
  /** `<test code>=<n>m|h|d`, e.g. `HIV1=48h`. */
  resultHolds?: string[];
}

export interface SenderView {
  id: string;
  tenantId: string;
  app: string;
  facility: string;
  patientIdAuthority: string | null;
  timeZone: string;
  phoneRegion: string;
  /** SHA-256 (hex) of the DER of the bound client certificate. */
  certSha256: string | null;
  resultHolds: ResultHold[];
  createdAt: string;
  removedAt: string | null;
}

/** MSH-3/MSH-4 hold an HD's first component (IS, up to 227 characters); no separators or controls. */
const HD_PATTERN = /^[^\r\n|^~\\&\u0000-\u001f]{1,227}$/;
/** MSH-4 may be empty (a sender that names no facility); MSH-3 may not. */
const FACILITY_PATTERN = /^[^\r\n|^~\\&\u0000-\u001f]{0,227}$/;
const HOLD_PATTERN = /^([^=\s]{1,64})=(\d{1,5})([mhd])$/;
const UNIT_MINUTES = { m: 1, h: 60, d: 1440 } as const;

export function senderView(r: Hl7SenderRow): SenderView {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    app: r.app,
    facility: r.facility,
    patientIdAuthority: r.patient_id_authority,
    timeZone: r.time_zone,
    phoneRegion: r.phone_region,
    certSha256: r.cert_sha256,
    resultHolds: JSON.parse(r.result_holds) as ResultHold[],
    createdAt: new Date(Number(r.created_at)).toISOString(),
    removedAt: r.removed_at == null ? null : new Date(Number(r.removed_at)).toISOString(),
  };
}

export function parseResultHold(s: string): ResultHold {
  const m = HOLD_PATTERN.exec(s.trim());
  const minutes = m ? Number(m[2]) * UNIT_MINUTES[m[3] as 'm'] : 0;
  if (!m || minutes <= 0 || minutes > 60 * 24 * 30)
    throw new AppError('SP_HL7_SENDER_INVALID', 'resultHolds: <test code>=<n>m|h|d, at most 30 days');
  return { code: m[1], minutes };
}

function certFingerprint(pem: string): string {
  try {
    return new X509Certificate(pem).fingerprint256.replaceAll(':', '').toLowerCase();
  } catch {
    throw new AppError('SP_HL7_SENDER_INVALID', 'cert: not a PEM X.509 certificate');
  }
}

/** Registered HL7 v2 senders: who may send, for which tenant, and how their messages are read. */
export class Hl7SenderService {
  constructor(private readonly deps: CoreDeps) {}

  async add(ctx: RequestContext, input: SenderInput): Promise<SenderView> {
    const { store, clock, newId } = this.deps;
    const app = input.app?.trim() ?? '';
    const facility = input.facility?.trim() ?? '';
    if (!HD_PATTERN.test(app)) throw new AppError('SP_HL7_SENDER_INVALID', 'app (MSH-3)');
    if (!FACILITY_PATTERN.test(facility)) throw new AppError('SP_HL7_SENDER_INVALID', 'facility (MSH-4)');
    const authority = input.patientIdAuthority?.trim() || null;
    if (authority !== null && !HD_PATTERN.test(authority))
      throw new AppError('SP_HL7_SENDER_INVALID', 'patientIdAuthority');
    const timeZone = input.timeZone ?? 'UTC';
    if (!isValidTimeZone(timeZone)) throw new AppError('SP_HL7_SENDER_INVALID', 'timeZone: not an IANA time zone');
    const phoneRegion = (input.phoneRegion ?? 'US').toUpperCase();
    if (!/^[A-Z]{2}$/.test(phoneRegion)) throw new AppError('SP_HL7_SENDER_INVALID', 'phoneRegion');
    const certSha256 = input.certPem ? certFingerprint(input.certPem) : null;
    const holds = (input.resultHolds ?? []).map(parseResultHold);
    if (new Set(holds.map((h) => h.code)).size !== holds.length)
      throw new AppError('SP_HL7_SENDER_INVALID', 'resultHolds: one hold per test code');
    const now = clock();
    const row: Hl7SenderRow = {
      id: newId(),
      tenant_id: ctx.tenantId,
      app,
      facility,
      patient_id_authority: authority,
      time_zone: timeZone,
      phone_region: phoneRegion,
      cert_sha256: certSha256,
      result_holds: JSON.stringify(holds),
      created_at: now.getTime(),
      removed_at: null,
    };
    await store.transaction(async (tx) => {
      // The unique index also guards concurrent registrations; this check gives the clear error. Both
      // are per tenant: another tenant's senders are neither visible nor an obstacle here.
      if (await tx.hl7Senders.findActive(ctx.tenantId, app, facility)) throw new AppError('SP_HL7_SENDER_EXISTS');
      await tx.hl7Senders.insert(row);
      await audit(tx, ctx, now, {
        action: 'hl7.sender.added',
        targetType: 'hl7_sender',
        targetId: row.id,
        details: { certBound: certSha256 !== null, resultHolds: holds.length },
      });
    });
    await store.durable();
    return senderView(row);
  }

  async list(ctx: RequestContext): Promise<SenderView[]> {
    return (await this.deps.store.read.hl7Senders.listActive(ctx.tenantId)).map(senderView);
  }

  async remove(ctx: RequestContext, id: string): Promise<SenderView> {
    const { store, clock } = this.deps;
    const now = clock();
    const view = await store.transaction(async (tx) => {
      if (!(await tx.hl7Senders.remove(ctx.tenantId, id, now.getTime()))) throw new AppError('SP_HL7_SENDER_NOT_FOUND');
      await audit(tx, ctx, now, { action: 'hl7.sender.removed', targetType: 'hl7_sender', targetId: id });
      return senderView((await tx.hl7Senders.get(ctx.tenantId, id))!);
    });
    await store.durable();
    return view;
  }

  /**
   * The sender a message comes from, in `tx`: among the active senders with this MSH-3/MSH-4 (every
   * tenant), those bound to the connection's client certificate when it presents one, else the
   * unbound ones; for an import (the operator vouches for the file), those of the operator's tenant
   * (one at most). Null unless exactly one remains: the same answer as an unknown pair, so nothing
   * about other tenants' senders leaks.
   */
  async route(
    tx: StoreTx,
    app: string,
    facility: string,
    via: { clientCertSha256?: string; importTenantId?: string },
  ): Promise<SenderView | null> {
    const cert = via.clientCertSha256?.toLowerCase();
    const all = await tx.hl7Senders.findActiveCandidates(app, facility);
    const left = all.filter((r) =>
      via.importTenantId !== undefined
        ? r.tenant_id === via.importTenantId
        : cert
          ? r.cert_sha256 === cert
          : r.cert_sha256 === null,
    );
    return left.length === 1 ? senderView(left[0]!) : null;
  }
}
