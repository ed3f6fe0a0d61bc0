import { describe, expect, it } from 'vitest';
import { PHI_MARKER } from '../../core/templates/template-test-fixtures.js';
import { ChannelError } from '../channel.js';
import { checkPagerId, isAccepted, pageText, refusal } from './snpp-protocol.js';

describe('SNPP protocol rules', () => {
  it('pageText: one line of printable ASCII, folded spaces, cut to maxChars', () => {
    expect(pageText('  a\r\nb\n\nc\td\u2028e  ', 240)).toBe('a b c d e');
    expect(pageText('Cœur Ñandú 10 °C ✓', 240)).toBe('C?ur Nandu 10 ?C ?');
    expect(pageText('x'.repeat(300), 240)).toHaveLength(240);
    expect(pageText('word '.repeat(10), 12)).toBe('word word wo');
    expect(pageText('abc  def', 4)).toBe('abc');
  });

  it('pageText: nothing left to send is refused and not retried, without echoing the text', () => {
    for (const t of ['', ' ', '\r\n', '\u0000\u0007']) {
      const e = (() => {
        try {
          pageText(t, 240);
        } catch (err) {
          return err;
        }
      })();
      expect(e).toBeInstanceOf(ChannelError);
      expect(e).toMatchObject({ retryable: false, detail: 'snpp empty message' });
    }
  });

  it('checkPagerId: one printable ASCII word of at most 64 characters', () => {
    for (const ok of ['5550147', 'ward4-charge', 'a', 'x'.repeat(64), 'id@unit.example'])
      expect(checkPagerId(ok)).toBe(ok);
    for (const bad of ['', ' 1', '1 2', '1\r\nSEND', 'é', 'x'.repeat(65), `${PHI_MARKER} 1`]) {
      expect(() => checkPagerId(bad), JSON.stringify(bad)).toThrow(/snpp invalid pager id/);
      try {
        checkPagerId(bad);
      } catch (e) {
        expect((e as Error).message).not.toContain(PHI_MARKER);
      }
    }
  });

  it('accepts 220 as greeting, 2xx for commands, and 860/960 (Level 3) only for SEND', () => {
    expect(isAccepted('greeting', { code: 220 })).toBe(true);
    expect(isAccepted('greeting', { code: 250 })).toBe(false);
    expect(isAccepted('PAGE', { code: 250 })).toBe(true);
    expect(isAccepted('SEND', { code: 960 })).toBe(true);
    expect(isAccepted('SEND', { code: 860 })).toBe(true);
    expect(isAccepted('MESS', { code: 960 })).toBe(false);
    expect(isAccepted('SEND', { code: 554 })).toBe(false);
  });

  it('refusal: 4xx and 554 at SEND are retried; 550, 500, 503, 552 and 554 elsewhere are not', () => {
    const r = (step: Parameters<typeof refusal>[0], code: number) => refusal(step, { code });
    expect(r('greeting', 421)).toMatchObject({ retryable: true, detail: 'snpp 421 at greeting' });
    expect(r('PAGE', 421).retryable).toBe(true);
    expect(r('SEND', 554).retryable).toBe(true);
    expect(r('PAGE', 550)).toMatchObject({ retryable: false, detail: 'snpp 550 pager id refused' });
    expect(r('LOGI', 550)).toMatchObject({ retryable: false, detail: 'snpp 550 login refused' });
    for (const [step, code] of [
      ['MESS', 550],
      ['MESS', 554],
      ['PAGE', 500],
      ['SEND', 503],
      ['PAGE', 552],
    ] as const) {
      expect(r(step, code).retryable, `${step} ${code}`).toBe(false);
    }
    expect(r('SEND', 503).code).toBe('SP_CHANNEL_SEND_FAILED');
  });
});
