/**
 * `value_bidx` filter for "stored in the form of key version `version`" (`at`) or "in any other form":
 * version 1 is bare hex (never starts with "v"), version n is `v<n>:<hex>`.
 */
export function indexForm(version: number, at: boolean): ['like' | 'not like', string] {
  const pattern = version === 1 ? 'v%' : `v${version}:%`;
  return [(version === 1) !== at ? 'like' : 'not like', pattern];
}
