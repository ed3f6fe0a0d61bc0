import { LANGUAGES, type Language } from './domain.js';
import { AppError } from './errors.js';

/**
 * SMS consent keywords (docs/consent.md): a whole inbound text that is one of a tenant's opt-out
 * words revokes SMS for every purpose, an opt-in word re-grants it, a help word is answered with the
 * organisation's name, contact and how to stop. Matching ignores case, spacing, punctuation and
 * accents ("Opt out", "opt-out" and "OPTOUT" are one word; "Sí" is "SI"). Each word belongs to a
 * language, which picks the language of the answer.
 */

export type KeywordAction = 'opt_out' | 'opt_in' | 'help';
export const KEYWORD_ACTIONS: readonly KeywordAction[] = ['opt_out', 'opt_in', 'help'];

export interface KeywordSettings {
  /** The words per action and language (normalised: A-Z only). */
  keywords: Record<KeywordAction, Record<Language, string[]>>;
  /** The answer per action and language; `{organisation}` and `{contact}` are filled in. PHI-free. */
  answers: Record<KeywordAction, Record<Language, string>>;
  /** The organisation named in answers (default: SEALPOST_ORGANISATION_NAME). */
  organisation?: string;
  /** How to reach the organisation (default: SEALPOST_ORGANISATION_CONTACT). */
  contact?: string;
}

/**
 * The opt-out words every tenant keeps: the 2024 FCC TCPA revocation rule (47 CFR 64.1200(a)(10),
 * 2024: stop, quit, end, revoke, opt out, cancel, unsubscribe) and the carriers' list (CTIA
 * Messaging Principles and Best Practices: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT). A tenant
 * may add words, never remove these.
 */
export const REQUIRED_OPT_OUT = ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'END', 'QUIT', 'REVOKE', 'OPTOUT', 'CANCEL'];
/** The carriers' opt-in and help words (CTIA): kept by every tenant too. */
export const REQUIRED_OPT_IN = ['START', 'UNSTOP'];
export const REQUIRED_HELP = ['HELP'];

export const DEFAULT_KEYWORDS: KeywordSettings = {
  keywords: {
    opt_out: { en: [...REQUIRED_OPT_OUT], es: ['ALTO', 'PARAR', 'BAJA', 'CANCELAR', 'DETENER'] },
    opt_in: { en: [...REQUIRED_OPT_IN, 'YES', 'SUBSCRIBE'], es: ['ALTA', 'REANUDAR'] },
    help: { en: [...REQUIRED_HELP, 'INFO'], es: ['AYUDA'] },
  },
  answers: {
    opt_out: {
      en: '{organisation}: you are unsubscribed and will get no more text messages from us. Reply START to resume.',
      es: '{organisation}: se ha dado de baja y no recibirá más mensajes de texto. Responda ALTA para reanudarlos.',
    },
    opt_in: {
      en: '{organisation}: you will get text messages from us again. Reply HELP for help, STOP to stop.',
      es: '{organisation}: volverá a recibir nuestros mensajes de texto. Responda AYUDA para ayuda, ALTO para dejarlos.',
    },
    help: {
      en: '{organisation}: secure message alerts. For help contact {contact}. Reply STOP to stop texts.',
      es: '{organisation}: avisos de mensajes seguros. Para ayuda contacte {contact}. Responda ALTO para no recibir más.',
    },
  },
};

/** An inbound text as a candidate keyword: letters only, upper case, accents and spacing gone. */
export function normaliseKeyword(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toUpperCase()
    .replace(/[^A-Z]/g, '');
}

/** The action and language of an inbound text under `s`, or null when it is not a keyword. */
export function matchKeyword(
  s: KeywordSettings,
  text: string,
): { action: KeywordAction; language: Language; word: string } | null {
  // A keyword is a short text; a long one is a message (and is not normalised at all).
  if (text.length > 40) return null;
  const word = normaliseKeyword(text);
  if (!word) return null;
  for (const action of KEYWORD_ACTIONS)
    for (const language of LANGUAGES)
      if (s.keywords[action][language]?.includes(word)) return { action, language, word };
  return null;
}

/** Whether `word` (e.g. a reply code) would be taken as a keyword under `s`. */
export function isKeywordIn(s: KeywordSettings, word: string): boolean {
  return matchKeyword(s, word) !== null;
}

/** An answer with `{organisation}` and `{contact}` filled in. */
export function answerText(
  s: KeywordSettings,
  action: KeywordAction,
  language: Language,
  defaults: { organisation: string; contact: string },
): string {
  return s.answers[action][language]
    .replaceAll('{organisation}', s.organisation ?? defaults.organisation)
    .replaceAll('{contact}', s.contact ?? defaults.contact);
}

const MAX_WORDS = 20;
const MAX_ANSWER = 300;

/**
 * Checks a tenant's settings (the admin API body) and returns them normalised: every word A-Z
 * (2-20 letters after normalising), no word under two actions, the required words kept, every
 * answer 1-300 characters with only the known placeholders, and the help answers telling how to
 * stop (an opt-out word of their language, or STOP). Bad input: SP_CONSENT_KEYWORDS_INVALID.
 */
export function validateKeywordSettings(input: KeywordSettings): KeywordSettings {
  const bad = (why: string): never => {
    throw new AppError('SP_CONSENT_KEYWORDS_INVALID', why);
  };
  const keywords = {} as KeywordSettings['keywords'];
  const owner = new Map<string, KeywordAction>();
  for (const action of KEYWORD_ACTIONS) {
    keywords[action] = {} as Record<Language, string[]>;
    for (const language of LANGUAGES) {
      const words = input.keywords?.[action]?.[language] ?? [];
      if (!Array.isArray(words) || words.length > MAX_WORDS)
        bad(`keywords.${action}.${language}: at most ${MAX_WORDS} words`);
      const out: string[] = [];
      for (const w of words) {
        const n = typeof w === 'string' ? normaliseKeyword(w) : '';
        if (n.length < 2 || n.length > 20) bad(`keywords.${action}.${language}: each word 2-20 letters`);
        const prior = owner.get(n);
        if (prior && prior !== action) bad(`keywords: ${n} is both ${prior} and ${action}`);
        owner.set(n, action);
        if (!out.includes(n)) out.push(n);
      }
      keywords[action][language] = out;
    }
  }
  const all = (a: KeywordAction) => LANGUAGES.flatMap((l) => keywords[a][l]);
  for (const [action, required] of [
    ['opt_out', REQUIRED_OPT_OUT],
    ['opt_in', REQUIRED_OPT_IN],
    ['help', REQUIRED_HELP],
  ] as const)
    for (const w of required)
      if (!all(action).includes(w)) bad(`keywords.${action}: must keep ${w} (FCC 2024 revocation rule, CTIA)`);
  const answers = {} as KeywordSettings['answers'];
  for (const action of KEYWORD_ACTIONS) {
    answers[action] = {} as Record<Language, string>;
    for (const language of LANGUAGES) {
      const a = input.answers?.[action]?.[language];
      if (typeof a !== 'string' || !a.trim() || a.length > MAX_ANSWER)
        bad(`answers.${action}.${language}: 1-${MAX_ANSWER} characters`);
      if (/\{(?!organisation\}|contact\})[^}]*\}/.test(a!)) bad(`answers.${action}.${language}: unknown placeholder`);
      if (action === 'help') {
        const words = new Set(normaliseWords(a!));
        if (![...keywords.opt_out[language], 'STOP'].some((w) => words.has(w)))
          bad(`answers.${action}.${language}: must tell how to stop (an opt-out word)`);
      }
      answers[action][language] = a!.trim();
    }
  }
  const text = (v: unknown, name: string) => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !v.trim() || v.length > 100) bad(`${name}: 1-100 characters`);
    return (v as string).trim();
  };
  const organisation = text(input.organisation, 'organisation');
  const contact = text(input.contact, 'contact');
  return {
    keywords,
    answers,
    ...(organisation ? { organisation } : {}),
    ...(contact ? { contact } : {}),
  };
}

const normaliseWords = (text: string) => text.split(/\s+/).map(normaliseKeyword).filter(Boolean);
