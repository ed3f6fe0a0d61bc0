/**
 * A `searchset` Bundle (R4 bundle.html, search.html#return): `total` (the number of matches when
 * every match fits the page, else the count the caller gives), a `self` link (and `next` when
 * given), one entry per resource with its `fullUrl` and `search.mode = match`. FHIR JSON forbids
 * empty arrays: an empty result has no `entry` at all.
 */
export interface SearchsetBundle {
  resourceType: 'Bundle';
  type: 'searchset';
  total: number;
  link: { relation: string; url: string }[];
  entry?: { fullUrl: string; resource: object; search: { mode: 'match' } }[];
}

export function searchset(
  fullUrlBase: string,
  resources: object[],
  selfUrl: string,
  o: { total?: number; nextUrl?: string } = {},
): SearchsetBundle {
  const base = fullUrlBase.replace(/\/+$/, '');
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: o.total ?? resources.length,
    link: [{ relation: 'self', url: selfUrl }, ...(o.nextUrl ? [{ relation: 'next', url: o.nextUrl }] : [])],
    ...(resources.length
      ? {
          entry: resources.map((r) => {
            const { resourceType, id } = r as { resourceType: string; id: string };
            return { fullUrl: `${base}/${resourceType}/${id}`, resource: r, search: { mode: 'match' as const } };
          }),
        }
      : {}),
  };
}
