import { describe, expect, it } from 'vitest';
import {
  DEFAULT_KEYWORDS,
  REQUIRED_OPT_OUT,
  answerText,
  isKeywordIn,
  matchKeyword,
  normaliseKeyword,
  validateKeywordSettings,
  type KeywordSettings,
} from './consent-keywords.js';
import { AppError } from './errors.js';

const refusal = (fn: () => unknown): AppError => {
  try {
    fn();
  } catch (e) {
    return e as AppError;
  }
  throw new Error('expected a refusal');
};

describe('SMS consent keywords', () => {
  it('takes the FCC 2024 and carrier opt-out words in any case, spacing, punctuation or accents', () => {
    for (const text of [
      'STOP',
      ' stop ',
      'Stop.',
      'S T O P',
      'opt out',
      'Opt-Out',
      'OPTOUT',
      'stopall',
      'Unsubscribe',
      'end',
      'quit',
      'revoke',
      'cancel',
    ])
      expect(matchKeyword(DEFAULT_KEYWORDS, text), text).toMatchObject({ action: 'opt_out', language: 'en' });
    for (const text of ['alto', 'PARAR', 'Baja', 'cancelar'])
      expect(matchKeyword(DEFAULT_KEYWORDS, text), text).toMatchObject({ action: 'opt_out', language: 'es' });
    for (const text of ['start', 'UNSTOP', 'yes']) expect(matchKeyword(DEFAULT_KEYWORDS, text)?.action).toBe('opt_in');
    for (const text of ['help', 'Ayuda!']) expect(matchKeyword(DEFAULT_KEYWORDS, text)?.action).toBe('help');
    expect(normaliseKeyword('Sí, señor')).toBe('SISENOR');
  });

  it('ignores texts that are not one keyword: sentences, reply codes, empty, long texts', () => {
    for (const text of ['', '   ', 'C', 'N', '1', 'stop texting me please', 'see you at the end', 'x'.repeat(41)])
      expect(matchKeyword(DEFAULT_KEYWORDS, text), text).toBeNull();
    expect(isKeywordIn(DEFAULT_KEYWORDS, 'C')).toBe(false);
    expect(isKeywordIn(DEFAULT_KEYWORDS, 'Cancel')).toBe(true);
  });

  it('fills the organisation and contact into the answers; a tenant may set its own', () => {
    const d = { organisation: 'Clinic', contact: '555' };
    expect(answerText(DEFAULT_KEYWORDS, 'help', 'en', d)).toBe(
      'Clinic: secure message alerts. For help contact 555. Reply STOP to stop texts.',
    );
    expect(
      answerText({ ...DEFAULT_KEYWORDS, organisation: 'Harbor', contact: 'h.example' }, 'help', 'es', d),
    ).toContain('Harbor: avisos');
  });

  const with_ = (f: (s: KeywordSettings) => void): KeywordSettings => {
    const s = structuredClone(DEFAULT_KEYWORDS) as KeywordSettings;
    f(s);
    return s;
  };

  it('normalises valid settings (words upper case, duplicates gone) and keeps extra words', () => {
    const s = validateKeywordSettings(with_((s) => s.keywords.opt_out.en.push('halt', 'HALT', 'Opt out')));
    expect(s.keywords.opt_out.en).toEqual([...REQUIRED_OPT_OUT, 'HALT']);
    expect(validateKeywordSettings(DEFAULT_KEYWORDS)).toEqual(DEFAULT_KEYWORDS);
  });

  it.each([
    [
      'a required opt-out word removed',
      (s: KeywordSettings) => (s.keywords.opt_out.en = s.keywords.opt_out.en.filter((w) => w !== 'REVOKE')),
    ],
    ['START removed', (s: KeywordSettings) => (s.keywords.opt_in.en = ['YES'])],
    ['HELP removed', (s: KeywordSettings) => (s.keywords.help.en = ['INFO'])],
    ['a word under two actions', (s: KeywordSettings) => s.keywords.help.es.push('stop')],
    ['a one-letter word (a reply code)', (s: KeywordSettings) => s.keywords.opt_in.en.push('C')],
    ['a word of digits only', (s: KeywordSettings) => s.keywords.opt_in.en.push('123')],
    [
      'too many words',
      (s: KeywordSettings) => s.keywords.help.en.push(...Array.from({ length: 20 }, (_, i) => `W${'A'.repeat(i + 1)}`)),
    ],
    ['an empty answer', (s: KeywordSettings) => (s.answers.opt_in.es = ' ')],
    ['an answer over 300 characters', (s: KeywordSettings) => (s.answers.opt_out.en = 'x'.repeat(301))],
    ['an unknown placeholder', (s: KeywordSettings) => (s.answers.opt_out.en = 'Hi {name}, bye')],
    ['a HELP answer that does not tell how to stop', (s: KeywordSettings) => (s.answers.help.en = 'Call {contact}.')],
    ['an empty organisation', (s: KeywordSettings) => (s.organisation = ' ')],
  ])('refuses %s with SP_CONSENT_KEYWORDS_INVALID', (_what, change) => {
    expect(refusal(() => validateKeywordSettings(with_(change))).code).toBe('SP_CONSENT_KEYWORDS_INVALID');
  });
});
