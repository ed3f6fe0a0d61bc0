import { LANGUAGES, NOTIFICATION_TYPES } from '../domain.js';
import type { Language, NotificationType } from '../domain.js';
import { AppError } from '../errors.js';
import { isValidTimeZone } from '../time-policy.js';
import { BUILT_IN_TEMPLATES } from './built-in-templates.js';
import { CURRENCY_KEY, DEFAULT_CURRENCY, normaliseTemplateData } from './template-data.js';
import { formatDate, formatDateTime, formatHours, formatMoney } from './template-format.js';
import { hasMalformedPlaceholder, placeholdersOf, renderLines } from './template-text.js';

export interface TemplateVariable {
  name: string;
  /** True if the value is protected health information: it may appear only in secure renderings. */
  phi: boolean;
  required: boolean;
  kind: 'string' | 'datetime' | 'date' | 'money';
}

export interface LocaleTemplates {
  /** Read in the portal after identity verification: may carry every variable. */
  secure: { title: string; body: string };
  /** Sent over insecure channels: PHI-free, type-neutral, built-in variables only, with `{{link}}`. */
  nudge: {
    emailSubject: string;
    email: string;
    sms: string;
    webhook: string;
    /** A push notification's title: one line and no link (the payload carries the notification id only). */
    push: string;
  };
}

export interface TemplateDef {
  type: NotificationType;
  variables: TemplateVariable[];
  locales: Record<Language, LocaleTemplates>;
}

export interface RenderContext {
  organisation: string;
  /** The one-time portal link. */
  link: string;
  language: Language;
  /** IANA zone of the patient; date-times are shown in it. */
  timeZone: string;
  /** Lifetime of the link, rendered as "24 hours" / "24 horas". */
  expiresHours: number;
}

export type NudgePart = 'sms' | 'email' | 'webhook' | 'push';

/** Non-PHI variables every template may use; they come from the RenderContext, never from data. */
export const BUILT_IN_VARIABLES = ['organisation', 'link', 'expiresHours'] as const;

const KINDS: readonly string[] = ['string', 'datetime', 'date', 'money'];
const NUDGE_PARTS: readonly NudgePart[] = ['sms', 'email', 'webhook', 'push'];
const BUILT_INS: ReadonlySet<string> = new Set(BUILT_IN_VARIABLES);
const RESERVED: ReadonlySet<string> = new Set([...BUILT_IN_VARIABLES, CURRENCY_KEY]);
const VARIABLE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const CONTROL = /[\u0000-\u001F\u007F]/;
const NONE: ReadonlySet<string> = new Set();

function bad(detail: string): AppError {
  return new AppError('SP_TEMPLATE_INVALID', detail);
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

function checkVariables(def: TemplateDef): Map<string, TemplateVariable> {
  if (!Array.isArray(def.variables)) throw bad(`${def.type}: variables must be an array`);
  const vars = new Map<string, TemplateVariable>();
  for (const v of def.variables) {
    const where = `${def.type}: variable ${String(v?.name)}`;
    if (typeof v?.name !== 'string' || !VARIABLE_NAME.test(v.name)) throw bad(`${def.type}: invalid variable name`);
    if (RESERVED.has(v.name)) throw bad(`${where} is reserved`);
    if (vars.has(v.name)) throw bad(`${where} is declared twice`);
    if (typeof v.phi !== 'boolean' || typeof v.required !== 'boolean') {
      throw bad(`${where} must declare phi and required as booleans`);
    }
    if (!KINDS.includes(v.kind)) throw bad(`${where} has an unknown kind`);
    vars.set(v.name, v);
  }
  return vars;
}

function checkText(where: string, text: unknown, vars: Map<string, TemplateVariable>): string[] {
  if (typeof text !== 'string' || text.trim() === '') throw bad(`${where}: must be a non-empty string`);
  if (hasMalformedPlaceholder(text)) throw bad(`${where}: malformed placeholder`);
  const names = placeholdersOf(text);
  for (const name of names) {
    if (!BUILT_INS.has(name) && !vars.has(name)) throw bad(`${where}: unknown variable ${name}`);
  }
  return names;
}

function checkLocale(
  type: NotificationType,
  lang: Language,
  loc: LocaleTemplates,
  vars: Map<string, TemplateVariable>,
): void {
  const at = (part: string) => `${type}/${lang}/${part}`;
  if (typeof loc?.secure !== 'object' || typeof loc?.nudge !== 'object' || !loc.secure || !loc.nudge) {
    throw bad(`${type}/${lang}: needs secure and nudge parts`);
  }

  const title = checkText(at('secure.title'), loc.secure.title, vars);
  if (loc.secure.title.includes('\n')) throw bad(`${at('secure.title')}: must be a single line`);
  // An optional variable would drop the only line and leave an empty title.
  const optionalInTitle = title.find((n) => vars.get(n)?.required === false);
  if (optionalInTitle) throw bad(`${at('secure.title')}: uses optional variable ${optionalInTitle}`);
  const used = new Set([...title, ...checkText(at('secure.body'), loc.secure.body, vars)]);
  // A declared variable missing from one language would silently lose data for those patients.
  for (const name of vars.keys()) {
    if (!used.has(name)) throw bad(`${at('secure')}: never uses variable ${name}`);
  }

  for (const part of ['emailSubject', 'email', 'sms', 'webhook', 'push'] as const) {
    const where = at(`nudge.${part}`);
    const names = checkText(where, loc.nudge[part], vars);
    const phi = names.find((n) => vars.get(n)?.phi === true);
    if (phi) throw new AppError('SP_TEMPLATE_PHI_IN_NUDGE', `${where} uses ${phi}`);
    // renderNudge gets no data: only the context-supplied built-ins can be bound.
    const declared = names.find((n) => !BUILT_INS.has(n));
    if (declared) throw bad(`${where}: nudges may only use ${BUILT_IN_VARIABLES.join(', ')}, not ${declared}`);
    if (part === 'emailSubject' || part === 'push') {
      if (loc.nudge[part].includes('\n')) throw bad(`${where}: must be a single line`);
      if (part === 'push' && names.includes('link')) throw bad(`${where}: must not carry {{link}}`);
    } else if (!names.includes('link')) {
      throw bad(`${where}: must contain {{link}}`);
    }
  }
}

function checkContext(ctx: RenderContext): void {
  const fail = (what: string) => new AppError('SP_SERVER_INTERNAL', `render context: ${what}`);
  if (!(LANGUAGES as readonly string[]).includes(ctx.language)) throw fail('unsupported language');
  if (typeof ctx.timeZone !== 'string' || !isValidTimeZone(ctx.timeZone)) {
    throw new AppError('SP_PATIENT_INVALID_TIMEZONE', 'render context: timeZone');
  }
  // Control characters in a subject line would allow header injection in an e-mail adapter.
  if (typeof ctx.organisation !== 'string' || ctx.organisation.trim() === '' || CONTROL.test(ctx.organisation)) {
    throw fail('organisation must be a non-empty single line');
  }
  if (typeof ctx.link !== 'string' || ctx.link === '' || /\s/.test(ctx.link) || CONTROL.test(ctx.link)) {
    throw fail('link must be a non-empty string without whitespace');
  }
  if (!Number.isFinite(ctx.expiresHours) || ctx.expiresHours <= 0) throw fail('expiresHours must be positive');
}

/**
 * The validated set of templates. Built once at start with `load`, which rejects any template that
 * could put PHI into a nudge, so the invariant holds for every message rendered afterwards.
 */
export class TemplateRegistry {
  private constructor(private readonly defs: ReadonlyMap<NotificationType, TemplateDef>) {}

  static load(defs: TemplateDef[] = BUILT_IN_TEMPLATES): TemplateRegistry {
    if (!Array.isArray(defs)) throw bad('templates must be an array');
    const byType = new Map<NotificationType, TemplateDef>();
    for (const original of defs) {
      // A private frozen copy: mutating the caller's object later cannot bypass validation.
      const def = deepFreeze(structuredClone(original));
      if (!(NOTIFICATION_TYPES as readonly string[]).includes(def?.type)) throw bad('unknown notification type');
      if (byType.has(def.type)) throw bad(`${def.type}: defined twice`);
      const vars = checkVariables(def);
      if (typeof def.locales !== 'object' || def.locales === null) throw bad(`${def.type}: locales missing`);
      for (const lang of Object.keys(def.locales)) {
        if (!(LANGUAGES as readonly string[]).includes(lang)) throw bad(`${def.type}: unsupported language`);
      }
      for (const lang of LANGUAGES) {
        if (!Object.hasOwn(def.locales, lang)) throw bad(`${def.type}/${lang}: missing`);
        checkLocale(def.type, lang, def.locales[lang], vars);
      }
      byType.set(def.type, def);
    }
    for (const type of NOTIFICATION_TYPES) {
      if (!byType.has(type)) throw bad(`${type}: missing`);
    }
    return new TemplateRegistry(byType);
  }

  /** The declared variables of `type` (e.g. for API documentation). */
  variables(type: NotificationType): readonly TemplateVariable[] {
    return this.def(type).variables;
  }

  /** Validates notification data for `type` and returns it normalised; see normaliseTemplateData. */
  validateData(type: NotificationType, data: unknown): Record<string, string | number> {
    return normaliseTemplateData(this.def(type).variables, data);
  }

  /** Full content for the portal. Validates `data` itself, so unchecked input never reaches a template. */
  renderSecure(type: NotificationType, data: unknown, ctx: RenderContext): { title: string; body: string } {
    const def = this.def(type);
    const values = this.builtInValues(ctx);
    const norm = normaliseTemplateData(def.variables, data);
    const currency = typeof norm[CURRENCY_KEY] === 'string' ? norm[CURRENCY_KEY] : DEFAULT_CURRENCY;
    const unset = new Set<string>();
    for (const v of def.variables) {
      const value = norm[v.name];
      if (value === undefined) unset.add(v.name);
      else if (v.kind === 'datetime') values.set(v.name, formatDateTime(String(value), ctx.language, ctx.timeZone));
      else if (v.kind === 'date') values.set(v.name, formatDate(String(value), ctx.language));
      else if (v.kind === 'money') values.set(v.name, formatMoney(Number(value), currency, ctx.language));
      else values.set(v.name, String(value));
    }
    const secure = def.locales[ctx.language].secure;
    return { title: renderLines(secure.title, values, unset), body: renderLines(secure.body, values, unset) };
  }

  /** PHI-free text for an insecure channel. Takes no data by design: there is nothing to leak. */
  renderNudge(type: NotificationType, part: NudgePart, ctx: RenderContext): { subject?: string; text: string } {
    if (!NUDGE_PARTS.includes(part)) throw new AppError('SP_SERVER_INTERNAL', 'unknown nudge part');
    const values = this.builtInValues(ctx);
    const nudge = this.def(type).locales[ctx.language].nudge;
    const text = renderLines(nudge[part], values, NONE);
    return part === 'email' ? { subject: renderLines(nudge.emailSubject, values, NONE), text } : { text };
  }

  private def(type: NotificationType): TemplateDef {
    const def = this.defs.get(type);
    if (!def) throw new AppError('SP_NOTIFICATION_UNKNOWN_TYPE');
    return def;
  }

  private builtInValues(ctx: RenderContext): Map<string, string> {
    checkContext(ctx);
    return new Map([
      ['organisation', ctx.organisation.trim()],
      ['link', ctx.link],
      ['expiresHours', formatHours(ctx.expiresHours, ctx.language)],
    ]);
  }
}
