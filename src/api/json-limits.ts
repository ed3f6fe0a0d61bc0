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
  const text = (s: string, where: string) =>
    LONE_SURROGATE.test(s)
      ? `${where}: is not well-formed Unicode`
      : s.length > limits.string
        ? `${where}: has a string over ${limits.string} characters`
        : null;
  const walk = (v: unknown, where: string, level: number): string | null => {
    if (typeof v === 'string') return text(v, where);
    if (v === null || typeof v !== 'object') return null;
    if (level > limits.depth) return `${where}: nests deeper than ${limits.depth} levels`;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const p = walk(v[i], `${where}[${i}]`, level + 1);
        if (p) return p;
      }
      return null;
    }
    const keys = Object.keys(v);
    if (keys.length > limits.keys) return `${where}: has more than ${limits.keys} keys`;
    for (const k of keys) {
      // A key is the caller's text (it may be anything, PHI included): the path stops at its object.
      const bad = text(k, where);
      if (bad) return bad;
      const p = walk((v as Record<string, unknown>)[k], where, level + 1);
      if (p) return p;
    }
    return null;
  };
  return walk(value, path, 1);
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
