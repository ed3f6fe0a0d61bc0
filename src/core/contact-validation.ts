import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import type { ChannelKind } from './domain.js';
import { AppError } from './errors.js';

/**
 * Normalises a contact value or throws a PHI-free error naming the position, never the value.
 * Phones must be E.164 (+ and country code) and valid for their region; e-mails a plain
 * addr-spec; webhooks https (plain http only to a loopback host, for local development). Where a
 * webhook may actually be reached is decided at delivery, when its host is resolved (the address
 * policy of channels/outbound-address.ts and SEALPOST_WEBHOOK_ALLOWED_HOSTS); who may add one is the
 * `contact.webhook` permission (PatientService.upsert).
 */
export function normaliseContact(system: ChannelKind, value: string, index: number): string {
  const where = `telecom[${index}]`;
  switch (system) {
    case 'sms': {
      const p = parsePhoneNumberFromString(value.trim());
      if (!p || !value.trim().startsWith('+') || !p.isValid()) throw new AppError('SP_PATIENT_INVALID_PHONE', where);
      return p.number;
    }
    case 'email': {
      const v = value.trim();
      // Deliberately conservative: one @, no spaces/quotes/angle brackets, a dotted domain.
      if (
        v.length > 254 ||
        !/^[^\s@"<>(),;:\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/.test(
          v,
        )
      ) {
        throw new AppError('SP_PATIENT_INVALID_EMAIL', where);
      }
      const at = v.lastIndexOf('@');
      return `${v.slice(0, at)}@${v.slice(at + 1).toLowerCase()}`;
    }
    case 'webhook': {
      let u: URL;
      try {
        u = new URL(value.trim());
      } catch {
        throw new AppError('SP_PATIENT_INVALID_WEBHOOK', where);
      }
      const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
      if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback))
        throw new AppError('SP_PATIENT_INVALID_WEBHOOK', where);
      if (u.username || u.password) throw new AppError('SP_PATIENT_INVALID_WEBHOOK', where);
      return u.toString();
    }
    // A device registers itself (POST /v1/me/push-subscriptions); staff, HL7 and FHIR cannot add one.
    case 'push':
      throw new AppError('SP_PUSH_NOT_EDITABLE', where);
  }
}

export function isValidBirthDate(s: string, now: Date): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toISOString().slice(0, 10) === s && d.getTime() <= now.getTime() && Number(m[1]) >= 1850;
}
