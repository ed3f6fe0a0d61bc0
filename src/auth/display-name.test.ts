import { describe, expect, it } from 'vitest';
import { assertDisplayName } from './user-service.js';

describe('assertDisplayName (the rule the CLI and the API share)', () => {
  it('keeps ordinary names in any script, emoji included', () => {
    for (const n of ['Ana Lima', 'Dr. José Núñez', 'ناصر', '李雷', 'Ana 😀']) expect(assertDisplayName(n)).toBe(n);
  });

  it('refuses empty, over-long, control characters, bidi controls and lone surrogates', () => {
    for (const n of ['', 'x'.repeat(201), 'a\nb', 'a\u202Eb', 'a\u2067b', 'a\u200Fb', 'a\u061Cb', 'a\uD800', '\uDE00b'])
      expect(() => assertDisplayName(n), JSON.stringify(n)).toThrow(
        expect.objectContaining({ code: 'SP_USER_INVALID_DISPLAY_NAME' }),
      );
  });
});
