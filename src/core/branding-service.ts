import { createHash } from 'node:crypto';
import type { Config } from '../config/config.js';
import type { Store } from '../store/store.js';
import type { BrandingLogo, BrandingRow } from '../store/repositories/branding-repository.js';
import type { RequestContext } from './context.js';
import { audit } from './context.js';
import { AppError } from './errors.js';
import { DEFAULT_TENANT } from './domain.js';
import { accentInk, checkAccent, checkLogo, checkOrganisationName, contrastColor, DEFAULT_ACCENT } from './branding.js';

/**
 * The organisation's display name: the name set in its branding, else the tenant's name, and for the
 * default tenant the installation's SEALPOST_ORGANISATION_NAME (it was created with it).
 */
export function organisationNameOf(
  row: Pick<BrandingRow, 'organisation_name' | 'tenant_name'> | undefined,
  tenantId: string,
  configured: string,
): string {
  if (row?.organisation_name) return row.organisation_name;
  return tenantId === DEFAULT_TENANT || !row?.tenant_name ? configured : row.tenant_name;
}

/** What the pages and the console show of a tenant. */
export interface Branding {
  organisationName: string;
  accentColor: string;
  /** The text colour on the accent (white or near-black; WCAG AA 4.5:1). */
  accentContrast: string;
  /** The accent where it is text on a light surface (itself, or near-black when too pale). */
  accentInk: string;
  hasLogo: boolean;
  /** The first 32 hex digits of the logo's SHA-256 (null without one): its address in the pages' links. */
  logoHash: string | null;
  /** Changes whenever the branding does: for ETags and cache-busting query strings. */
  version: string;
}

export interface BrandingChange {
  /** A new display name; null returns to the default (the tenant's name). Absent: unchanged. */
  organisationName?: string | null;
  /** A new accent colour (#rrggbb); null returns to the default. Absent: unchanged. */
  accentColor?: string | null;
}

/**
 * Per-tenant branding of the sign-in, enrolment and portal pages and the console. Every value is
 * checked before anything is written (bad input changes nothing); every change is audited in its
 * own transaction, with identifiers only (the fields changed, the logo's hash).
 */
export class BrandingService {
  constructor(private readonly deps: { store: Store; clock: () => Date; config: Pick<Config, 'organisationName'> }) {}

  async get(tenantId: string): Promise<Branding> {
    const r = await this.deps.store.read.branding.get(tenantId);
    const organisationName = organisationNameOf(r, tenantId, this.deps.config.organisationName);
    const accentColor = r?.accent_color ?? DEFAULT_ACCENT;
    const version = createHash('sha256')
      .update(JSON.stringify([organisationName, accentColor, r?.logo_sha256 ?? null]))
      .digest('base64url')
      .slice(0, 16);
    return {
      organisationName,
      accentColor,
      accentContrast: contrastColor(accentColor) ?? '#ffffff',
      accentInk: accentInk(accentColor),
      hasLogo: !!r?.logo_sha256,
      logoHash: r?.logo_sha256 ? r.logo_sha256.slice(0, 32) : null,
      version,
    };
  }

  async update(ctx: RequestContext, change: BrandingChange): Promise<Branding> {
    // Checked before the transaction: a bad value is refused with nothing written.
    const name =
      change.organisationName === undefined || change.organisationName === null
        ? change.organisationName
        : checkOrganisationName(change.organisationName);
    const accent =
      change.accentColor === undefined || change.accentColor === null
        ? change.accentColor
        : checkAccent(change.accentColor);
    const { store, clock } = this.deps;
    const now = clock();
    await store.transaction(async (tx) => {
      const cur = await tx.branding.get(ctx.tenantId);
      if (!cur) throw new AppError('SP_AUTH_FORBIDDEN');
      const fields = [name !== undefined && 'organisationName', accent !== undefined && 'accentColor'].filter(
        (f): f is string => !!f,
      );
      await tx.branding.putSettings(
        ctx.tenantId,
        {
          organisationName: name === undefined ? cur.organisation_name : name,
          accentColor: accent === undefined ? cur.accent_color : accent,
        },
        now.getTime(),
      );
      await audit(tx, ctx, now, {
        action: 'branding.updated',
        targetType: 'tenant',
        targetId: ctx.tenantId,
        details: { fields },
      });
    });
    await store.durable();
    return this.get(ctx.tenantId);
  }

  async putLogo(ctx: RequestContext, declaredType: string | undefined, data: Uint8Array): Promise<Branding> {
    const type = checkLogo(declaredType, data);
    const sha256 = createHash('sha256').update(data).digest('hex');
    const { store, clock } = this.deps;
    const now = clock();
    await store.transaction(async (tx) => {
      await tx.branding.putLogo(ctx.tenantId, { type, sha256, data }, now.getTime());
      await audit(tx, ctx, now, {
        action: 'branding.logo_set',
        targetType: 'tenant',
        targetId: ctx.tenantId,
        details: { sha256, type, bytes: data.length },
      });
    });
    await store.durable();
    return this.get(ctx.tenantId);
  }

  async deleteLogo(ctx: RequestContext): Promise<Branding> {
    const { store, clock } = this.deps;
    const now = clock();
    await store.transaction(async (tx) => {
      if (!(await tx.branding.deleteLogo(ctx.tenantId, now.getTime()))) return;
      await audit(tx, ctx, now, {
        action: 'branding.logo_removed',
        targetType: 'tenant',
        targetId: ctx.tenantId,
      });
    });
    await store.durable();
    return this.get(ctx.tenantId);
  }

  /** The tenant's logo; SP_BRANDING_LOGO_NOT_FOUND when it has none. */
  async logo(tenantId: string): Promise<BrandingLogo> {
    const l = await this.deps.store.read.branding.logo(tenantId);
    if (!l) throw new AppError('SP_BRANDING_LOGO_NOT_FOUND');
    return l;
  }
}
