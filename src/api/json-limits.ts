/**
 * Bounds on the shape of parsed JSON: how deep it nests, how many keys an object has, how long a
 * string is, and that every string and key is well-formed Unicode (a lone surrogate cannot be
 * stored in PostgreSQL text, canonicalized for a fingerprint or signature, or shown safely).
 * Problems name the path and the rule, never a value.
 */
export interface JsonLimits {
  /** Levels of objects and arrays, the outermost counting as 1. */
  depth: number;
  /** Keys of one object. */
  keys: number;
  /** UTF-16 code units of one string (keys included). */
  string: number;
}

/** What every JSON request body must keep to, whatever the route. */
export const BODY_LIMITS: JsonLimits = { depth: 32, keys: 1000, string: Number.POSITIVE_INFINITY };

/** Free-form notification `data` (its template then checks the fields it knows). */
export const DATA_LIMITS: JsonLimits = { depth: 4, keys: 50, string: 2000 };

// With the `u` flag a surrogate range matches lone surrogates only (a pair is one code point).
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** The first way `value` breaks `limits`, as `path: rule`; null when it keeps to them. */
export function jsonShapeProblem(value: unknown, limits: JsonLimits, path: string): string | null {
  const stringRule = (s: string) =>
    LONE_SURROGATE.test(s)
      ? 'is not well-formed Unicode'
      : s.length > limits.string
        ? `has a string over ${limits.string} characters`
        : null;
  // The array indexes leading to a problem are joined only when there is one (this runs on every
  // JSON body, a batch included: no path string per element).
  const walk = (v: unknown, level: number): { at: string; rule: string } | null => {
    if (typeof v === 'string') {
      const rule = stringRule(v);
      return rule ? { at: '', rule } : null;
    }
    if (v === null || typeof v !== 'object') return null;
    if (level > limits.depth) return { at: '', rule: `nests deeper than ${limits.depth} levels` };
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const p = walk(v[i], level + 1);
        if (p) return { at: `[${i}]${p.at}`, rule: p.rule };
      }
      return null;
    }
    const keys = Object.keys(v);
    if (keys.length > limits.keys) return { at: '', rule: `has more than ${limits.keys} keys` };
    for (const k of keys) {
      // A key is the caller's text (it may be anything, PHI included): the path stops at its object.
      const rule = stringRule(k);
      if (rule) return { at: '', rule };
      const p = walk((v as Record<string, unknown>)[k], level + 1);
      if (p) return p;
    }
    return null;
  };
  const p = walk(value, 1);
  return p ? `${path}${p.at}: ${p.rule}` : null;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The body as text when it is well-formed UTF-8 (a leading BOM dropped); null otherwise. */
export function decodeUtf8(body: Buffer): string | null {
  try {
    return UTF8.decode(body);
  } catch {
    return null;
  }
}
