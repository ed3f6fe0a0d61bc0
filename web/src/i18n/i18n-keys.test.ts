import { describe, expect, it } from 'vitest';
import en from './en.json';
import es from './es.json';

/** Every key path of a nested dictionary (`nav.signOut`). */
function keys(o: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(o).flatMap(([k, v]) =>
    v && typeof v === 'object' ? keys(v as Record<string, unknown>, `${prefix}${k}.`) : [`${prefix}${k}`],
  );
}

/** Values' interpolation placeholders (`{{name}}`), which both languages must use alike. */
const placeholders = (s: unknown) => [...String(s).matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]).sort();
const at = (o: any, path: string) => path.split('.').reduce((x, k) => x?.[k], o);

describe('the console speaks English and Spanish alike', () => {
  it('has the same keys in both dictionaries', () => {
    expect(keys(es).sort()).toEqual(keys(en).sort());
  });

  it('uses the same placeholders in each string, and no string is empty', () => {
    for (const k of keys(en)) {
      expect(placeholders(at(es, k)), k).toEqual(placeholders(at(en, k)));
      expect(String(at(en, k)).trim(), k).not.toBe('');
      expect(String(at(es, k)).trim(), k).not.toBe('');
    }
  });
});
