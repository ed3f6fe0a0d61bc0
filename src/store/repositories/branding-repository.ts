import type { Sql } from '../sql.js';
import { stmt } from '../sql.js';

/** A tenant's branding as stored: each field null until set (then the defaults apply). */
export interface BrandingRow {
  tenant_id: string;
  /** The tenant's own name (tenants.name), the default display name. */
  tenant_name: string;
  organisation_name: string | null;
  accent_color: string | null;
  logo_type: string | null;
  logo_sha256: string | null;
  updated_at: number | null;
}

export interface BrandingLogo {
  type: string;
  sha256: string;
  data: Uint8Array;
}

/**
 * Per-tenant branding (migration 028): the organisation's display name, accent colour and logo.
 * Values arrive validated (core/branding.ts); this port stores and returns them as given.
 */
export interface BrandingRepository {
  /** The tenant's branding, with its tenant name; undefined when the tenant does not exist. */
  get(tenantId: string): Promise<BrandingRow | undefined>;
  /**
   * Sets the name and colour (null clears a field back to its default), leaving the logo as it is;
   * makes the tenant's row on its first change.
   */
  putSettings(
    tenantId: string,
    s: { organisationName: string | null; accentColor: string | null },
    now: number,
  ): Promise<void>;
  /** Replaces the logo (makes the row when needed). */
  putLogo(tenantId: string, logo: BrandingLogo, now: number): Promise<void>;
  /** Removes the logo; returns whether there was one. */
  deleteLogo(tenantId: string, now: number): Promise<boolean>;
  /** The logo's bytes and type, or undefined when the tenant has none. */
  logo(tenantId: string): Promise<BrandingLogo | undefined>;
}

const GET = stmt(
  `select t.id as tenant_id, t.name as tenant_name, b.organisation_name, b.accent_color, b.logo_type, b.logo_sha256, b.updated_at
   from tenants t left join tenant_branding b on b.tenant_id = t.id where t.id = ?`,
);
const PUT_SETTINGS = stmt(
  `insert into tenant_branding (tenant_id, organisation_name, accent_color, updated_at) values (?, ?, ?, ?)
   on conflict (tenant_id) do update set organisation_name = excluded.organisation_name,
   accent_color = excluded.accent_color, updated_at = excluded.updated_at`,
);
const PUT_LOGO = stmt(
  `insert into tenant_branding (tenant_id, logo, logo_type, logo_sha256, updated_at) values (?, ?, ?, ?, ?)
   on conflict (tenant_id) do update set logo = excluded.logo, logo_type = excluded.logo_type,
   logo_sha256 = excluded.logo_sha256, updated_at = excluded.updated_at`,
);
const DELETE_LOGO = stmt(
  `update tenant_branding set logo = null, logo_type = null, logo_sha256 = null, updated_at = ?
   where tenant_id = ? and logo is not null`,
);
const LOGO = stmt('select logo, logo_type, logo_sha256 from tenant_branding where tenant_id = ? and logo is not null');

export class SqlBrandingRepository implements BrandingRepository {
  constructor(private readonly sql: Sql) {}

  async get(tenantId: string): Promise<BrandingRow | undefined> {
    const r = await this.sql.get<BrandingRow>(GET, [tenantId]);
    return r && { ...r, updated_at: r.updated_at == null ? null : Number(r.updated_at) };
  }

  async putSettings(
    tenantId: string,
    s: { organisationName: string | null; accentColor: string | null },
    now: number,
  ): Promise<void> {
    await this.sql.run(PUT_SETTINGS, [tenantId, s.organisationName, s.accentColor, now]);
  }

  async putLogo(tenantId: string, logo: BrandingLogo, now: number): Promise<void> {
    await this.sql.run(PUT_LOGO, [tenantId, logo.data, logo.type, logo.sha256, now]);
  }

  async deleteLogo(tenantId: string, now: number): Promise<boolean> {
    return (await this.sql.run(DELETE_LOGO, [now, tenantId])) > 0;
  }

  async logo(tenantId: string): Promise<BrandingLogo | undefined> {
    const r = await this.sql.get<{ logo: Uint8Array; logo_type: string; logo_sha256: string }>(LOGO, [tenantId]);
    return r && { data: r.logo, type: r.logo_type, sha256: r.logo_sha256 };
  }
}
