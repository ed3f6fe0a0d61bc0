import { describe, expect, it } from 'vitest';
import { ackCodeFor, parseFailureCode } from './ack-policy.js';

describe('acknowledgement codes by mode (HL7 v2 §2.9)', () => {
  it('answers in original mode when MSH-15 and MSH-16 are both empty', () => {
    expect(ackCodeFor('', '', 'AA')).toBe('AA');
    expect(ackCodeFor('', '', 'AE')).toBe('AE');
    expect(ackCodeFor('', '', 'AR')).toBe('AR');
    expect(parseFailureCode('', '')).toBe('AE');
  });

  it('sends the accept ACK in enhanced mode: CA for what was stored (queued errors too), CR for refusals, CE when unparseable', () => {
    expect(ackCodeFor('AL', 'NE', 'AA')).toBe('CA');
    expect(ackCodeFor('AL', 'NE', 'AE')).toBe('CA');
    expect(ackCodeFor('AL', 'NE', 'AR')).toBe('CR');
    expect(parseFailureCode('AL', 'NE')).toBe('CE');
  });

  it('honours MSH-15 ER, SU and NE', () => {
    expect(ackCodeFor('ER', 'NE', 'AA')).toBeNull();
    expect(ackCodeFor('ER', 'NE', 'AR')).toBe('CR');
    expect(ackCodeFor('SU', 'NE', 'AA')).toBe('CA');
    expect(ackCodeFor('SU', 'NE', 'AR')).toBeNull();
    expect(ackCodeFor('NE', 'NE', 'AA')).toBeNull();
    expect(parseFailureCode('NE', 'NE')).toBeNull();
  });

  it('sends the application ACK on the connection when only MSH-16 asks for one', () => {
    expect(ackCodeFor('NE', 'AL', 'AA')).toBe('AA');
    expect(ackCodeFor('NE', 'ER', 'AA')).toBeNull();
    expect(ackCodeFor('NE', 'ER', 'AE')).toBe('AE');
    expect(ackCodeFor('NE', 'SU', 'AE')).toBeNull();
  });

  it('treats an empty MSH-15 beside a valued MSH-16 as "always" (enhanced mode)', () => {
    expect(ackCodeFor('', 'AL', 'AA')).toBe('CA');
  });
});
