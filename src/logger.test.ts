import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

describe('log redaction', () => {
  it('redacts PHI-bearing fields at the top level and nested, as a second line of defence', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) });
    const log = createLogger('info', sink as never);
    log.info(
      {
        birthDate: '1969-07-21',
        to: '+14155552671',
        patient: { name: 'PHIMARK-A', telecom: ['x'] },
        deep: { x: { email: 'PHIMARK@b.c' } },
      },
      'msg',
    );
    const out = lines.join('');
    for (const secret of ['1969-07-21', '+14155552671', 'PHIMARK']) expect(out).not.toContain(secret);
    expect(out).toContain('[redacted]');
  });
});
