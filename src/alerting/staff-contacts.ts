import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import type { Store, StoreTx } from '../store/store.js';
import type { StaffContactRow } from '../store/repositories/alert-notification-repository.js';
import { audit, type RequestContext } from '../core/context.js';
import { AppError } from '../core/errors.js';
import { LANGUAGES, type Language } from '../core/domain.js';
import { isValidTimeZone } from '../core/time-policy.js';
import { parseQuietHours } from '../config/time-settings.js';
import { OutboundAddressPolicy, OutboundAddressRefused } from '../channels/outbound-address.js';

/** The kinds of contact method a staff user may have for alerts (the alert channels). */
export const STAFF_CONTACT_KINDS = ['sms', 'email', 'paging', 'webhook'] as const;
export type StaffContactKind = (typeof STAFF_CONTACT_KINDS)[number];
export const MAX_STAFF_CONTACTS = 8;

export interface StaffContact {
  kind: StaffContactKind;
  value: string;
}

export interface StaffAlertSettings {
  language: Language;
  /** IANA zone the quiet hours are read in. */
  timeZone: string;
  /** `HH:MM-HH:MM` (may cross midnight), or null. */
  quietHours: string | null;
  /** ISO instant until which only high-priority alerts reach this person, or null. */
  doNotDisturbUntil: string | null;
}

export interface StaffAlertContacts {
  /** In rank order: the first method of a kind is the one a nudge on that channel uses. */
  contacts: StaffContact[];
  settings: StaffAlertSettings;
}

/** A replacement: the contact methods, and the settings when they change too (kept when absent). */
export type StaffAlertContactsInput = Omit<StaffAlertContacts, 'settings'> & { settings?: StaffAlertSettings };

export const DEFAULT_STAFF_SETTINGS: StaffAlertSettings = {
  language: 'en',
  timeZone: 'UTC',
  quietHours: null,
  doNotDisturbUntil: null,
};

const PAGER_ID = /^[A-Za-z0-9]{1,16}$/;
const EMAIL =
  /^[^\s@"<>(),;:\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;

/**
 * Normalises one contact method or throws SP_ALERT_CONTACT_INVALID naming the position, never the
 * value: phones E.164 and valid for their region, e-mails a plain addr-spec, pager ids 1-16 letters
 * or digits (an SNPP pager id), webhooks https without credentials to a host the outbound address
 * policy allows (an IP literal is judged now; a name when the channel resolves it, every time).
 */
export function normaliseStaffContact(c: StaffContact, index: number, policy: OutboundAddressPolicy): string {
  const where = `contacts[${index}]`;
  const bad = () => new AppError('SP_ALERT_CONTACT_INVALID', where);
  const v = c.value.trim();
  switch (c.kind) {
    case 'sms': {
      const p = parsePhoneNumberFromString(v);
      if (!v.startsWith('+') || !p || !p.isValid()) throw bad();
      return p.number;
    }
    case 'email': {
      if (v.length > 254 || !EMAIL.test(v)) throw bad();
      const at = v.lastIndexOf('@');
      return `${v.slice(0, at)}@${v.slice(at + 1).toLowerCase()}`;
    }
    case 'paging':
      if (!PAGER_ID.test(v)) throw bad();
      return v;
    case 'webhook': {
      let u: URL;
      try {
        u = new URL(v);
      } catch {
        throw bad();
      }
      if (u.protocol !== 'https:' || u.username || u.password || v.length > 2048) throw bad();
      try {
        policy.assertUrl(u);
      } catch (e) {
        if (e instanceof OutboundAddressRefused) throw bad();
        throw e;
      }
      return u.toString();
    }
  }
}

/** Checks the settings; SP_ALERT_SETTINGS_INVALID names the field. Returns the row's values. */
export function checkStaffSettings(s: StaffAlertSettings): {
  language: Language;
  time_zone: string;
  quiet_hours: string | null;
  dnd_until: number | null;
} {
  if (!LANGUAGES.includes(s.language)) throw new AppError('SP_ALERT_SETTINGS_INVALID', 'settings.language');
  if (!isValidTimeZone(s.timeZone)) throw new AppError('SP_ALERT_SETTINGS_INVALID', 'settings.timeZone');
  if (s.quietHours !== null) {
    try {
      parseQuietHours(s.quietHours);
    } catch {
      throw new AppError('SP_ALERT_SETTINGS_INVALID', 'settings.quietHours');
    }
  }
  let dnd: number | null = null;
  if (s.doNotDisturbUntil !== null) {
    dnd = Date.parse(s.doNotDisturbUntil);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(s.doNotDisturbUntil) || Number.isNaN(dnd))
      throw new AppError('SP_ALERT_SETTINGS_INVALID', 'settings.doNotDisturbUntil');
  }
  return { language: s.language, time_zone: s.timeZone, quiet_hours: s.quietHours, dnd_until: dnd };
}

/**
 * Staff users' alert contact methods and settings (`/v1/users/{id}/alert-contacts`,
 * `/v1/me/alert-contacts`). Contact values are staff work contact data, not PHI: they are stored in
 * clear, as users.email is. Every change is audited (kinds and counts, never the values).
 */
export class StaffContactService {
  private readonly policy: OutboundAddressPolicy;

  constructor(
    private readonly deps: { store: Store; clock: () => Date },
    allowedHosts: readonly string[] = [],
  ) {
    this.policy = new OutboundAddressPolicy(allowedHosts);
  }

  /** The user's contact methods and settings; 404 SP_USER_NOT_FOUND outside the tenant. */
  async get(ctx: RequestContext, userId: string): Promise<StaffAlertContacts> {
    const tx = this.deps.store.read;
    await this.requireUser(tx, ctx.tenantId, userId);
    return this.read(tx, ctx.tenantId, userId);
  }

  /** Replaces the user's contact methods and settings, all checked first (a bad one changes nothing). */
  async put(ctx: RequestContext, userId: string, input: StaffAlertContactsInput): Promise<StaffAlertContacts> {
    if (input.contacts.length > MAX_STAFF_CONTACTS)
      throw new AppError('SP_ALERT_CONTACT_INVALID', `at most ${MAX_STAFF_CONTACTS} contacts`);
    const values = input.contacts.map((c, i) => ({ kind: c.kind, value: normaliseStaffContact(c, i, this.policy) }));
    const seen = new Set<string>();
    values.forEach((c, i) => {
      const key = `${c.kind} ${c.value}`;
      if (seen.has(key)) throw new AppError('SP_ALERT_CONTACT_INVALID', `contacts[${i}] duplicate`);
      seen.add(key);
    });
    const settings = input.settings === undefined ? null : checkStaffSettings(input.settings);
    const at = this.deps.clock();
    const now = at.getTime();
    const { store } = this.deps;
    const out = await store.transaction(async (tx) => {
      await this.requireUser(tx, ctx.tenantId, userId);
      const rows: StaffContactRow[] = values.map((c, rank) => ({
        tenant_id: ctx.tenantId,
        user_id: userId,
        rank,
        kind: c.kind,
        value: c.value,
        updated_at: now,
      }));
      await tx.alertNotifications.replaceContacts(ctx.tenantId, userId, rows);
      if (settings)
        await tx.alertNotifications.putSettings({
          tenant_id: ctx.tenantId,
          user_id: userId,
          ...settings,
          updated_at: now,
        });
      await audit(tx, ctx, at, {
        action: 'user.alert_contacts_updated',
        targetType: 'user',
        targetId: userId,
        details: {
          kinds: values.map((c) => c.kind),
          ...(settings && {
            language: settings.language,
            quietHours: settings.quiet_hours !== null,
            doNotDisturb: settings.dnd_until !== null && settings.dnd_until > now,
          }),
        },
      });
      return this.read(tx, ctx.tenantId, userId);
    });
    await store.durable();
    return out;
  }

  private async requireUser(tx: StoreTx, tenantId: string, userId: string): Promise<void> {
    if (!(await tx.users.byId(tenantId, userId))) throw new AppError('SP_USER_NOT_FOUND');
  }

  private async read(tx: StoreTx, tenantId: string, userId: string): Promise<StaffAlertContacts> {
    const contacts = await tx.alertNotifications.contacts(tenantId, userId);
    const s = await tx.alertNotifications.settings(tenantId, userId);
    return {
      contacts: contacts.map((c) => ({ kind: c.kind as StaffContactKind, value: c.value })),
      settings: s
        ? {
            language: s.language as Language,
            timeZone: s.time_zone,
            quietHours: s.quiet_hours,
            doNotDisturbUntil: s.dnd_until === null ? null : new Date(s.dnd_until).toISOString(),
          }
        : { ...DEFAULT_STAFF_SETTINGS },
    };
  }
}
