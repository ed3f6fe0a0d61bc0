import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  consistencyProof,
  hashChildren,
  inclusionProof,
  perfectNodesCompletedBy,
  subtreeRoot,
  treeRoot,
  type NodeSource,
} from './merkle-proofs.js';
import { leafHash, rootFromLeafHashes, verifyConsistency, verifyInclusion } from './merkle.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const hexes = (bs: Uint8Array[]): string[] => bs.map(hex);
const sha256 = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

function leavesOf(n: number, salt = 'leaf'): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => leafHash(new TextEncoder().encode(`${salt}-${i}`)));
}

// RFC 9162 §2.1.1 MTH, §2.1.3.1 PATH and §2.1.4.1 PROOF/SUBPROOF transcribed literally: the oracle.
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
function mth(d: Uint8Array[]): Uint8Array {
  if (d.length === 0) return sha256();
  if (d.length === 1) return d[0];
  const k = splitPoint(d.length);
  return sha256(Uint8Array.of(1), mth(d.slice(0, k)), mth(d.slice(k)));
}
function path(m: number, d: Uint8Array[]): Uint8Array[] {
  if (d.length <= 1) return [];
  const k = splitPoint(d.length);
  return m < k ? [...path(m, d.slice(0, k)), mth(d.slice(k))] : [...path(m - k, d.slice(k)), mth(d.slice(0, k))];
}
function subproof(m: number, d: Uint8Array[], b: boolean): Uint8Array[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const k = splitPoint(d.length);
  return m <= k
    ? [...subproof(m, d.slice(0, k), b), mth(d.slice(k))]
    : [...subproof(m - k, d.slice(k), false), mth(d.slice(0, k))];
}

/**
 * A node store built the way the integrator builds it: leaf by leaf, storing each node that
 * perfectNodesCompletedBy reports. Records every lookup and rejects any node that is not stored
 * or lies beyond `limit` leaves, so a generator that peeks past the requested tree size fails.
 */
function integratedStore(leaves: Uint8Array[]) {
  const nodes = new Map<string, Uint8Array>();
  leaves.forEach((h, i) => {
    nodes.set(`0/${i}`, h);
    for (const { level, index } of perfectNodesCompletedBy(i)) {
      nodes.set(
        `${level}/${index}`,
        hashChildren(nodes.get(`${level - 1}/${2 * index}`)!, nodes.get(`${level - 1}/${2 * index + 1}`)!),
      );
    }
  });
  let calls = 0;
  let limit = leaves.length;
  const get: NodeSource = async (level, index) => {
    calls++;
    const node = nodes.get(`${level}/${index}`);
    if (!node) throw new Error(`node (${level}, ${index}) was never stored`);
    if ((index + 1) * 2 ** level > limit) throw new Error(`node (${level}, ${index}) lies beyond size ${limit}`);
    return node;
  };
  return {
    nodes,
    get,
    /** Restrict lookups to the first `n` leaves and reset the counter. */
    within(n: number) {
      limit = n;
      calls = 0;
    },
    get calls() {
      return calls;
    },
  };
}

const log2ceil = (n: number): number => Math.ceil(Math.log2(Math.max(n, 1)));

describe('perfectNodesCompletedBy', () => {
  it('reports one node per trailing one bit of the leaf index, lowest level first', () => {
    expect(perfectNodesCompletedBy(0)).toEqual([]);
    expect(perfectNodesCompletedBy(1)).toEqual([{ level: 1, index: 0 }]);
    expect(perfectNodesCompletedBy(2)).toEqual([]);
    expect(perfectNodesCompletedBy(7)).toEqual([
      { level: 1, index: 3 },
      { level: 2, index: 1 },
      { level: 3, index: 0 },
    ]);
    expect(perfectNodesCompletedBy(11)).toEqual([
      { level: 1, index: 5 },
      { level: 2, index: 2 },
    ]);
    expect(perfectNodesCompletedBy(2 ** 40 - 1)).toHaveLength(40);
    expect(perfectNodesCompletedBy(2 ** 40 - 1)[39]).toEqual({ level: 40, index: 0 });
  });

  it('stores, over 1..300 appends, exactly the complete perfect subtrees with the RFC hash of each', () => {
    const leaves = leavesOf(300);
    const { nodes } = integratedStore(leaves);
    let expected = 0;
    for (let level = 0; 2 ** level <= 300; level++) {
      for (let j = 0; (j + 1) * 2 ** level <= 300; j++, expected++) {
        expect(hex(nodes.get(`${level}/${j}`)!), `node ${level}/${j}`).toBe(
          hex(mth(leaves.slice(j * 2 ** level, (j + 1) * 2 ** level))),
        );
      }
    }
    expect(nodes.size).toBe(expected);
  });

  it.each([-1, 1.5, Number.NaN, 2 ** 53])('throws a RangeError for leaf index %s', (i) => {
    expect(() => perfectNodesCompletedBy(i)).toThrow(RangeError);
  });
});

describe('subtreeRoot and treeRoot', () => {
  const leaves = leavesOf(300);
  const store = integratedStore(leaves);

  it('give SHA-256("") for the empty tree', async () => {
    expect(hex(await treeRoot(0, store.get))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('match MTH for every tree size 1..300 using at most ⌈log2 n⌉+1 lookups inside the tree', async () => {
    for (let n = 1; n <= 300; n++) {
      store.within(n);
      expect(hex(await treeRoot(n, store.get)), `size ${n}`).toBe(hex(mth(leaves.slice(0, n))));
      expect(store.calls).toBeLessThanOrEqual(log2ceil(n) + 1);
      expect(hex(await treeRoot(n, store.get))).toBe(hex(rootFromLeafHashes(leaves.slice(0, n))));
    }
  });

  it('match MTH for every aligned range the RFC recursion can ask for', async () => {
    store.within(300);
    for (let start = 0; start < 300; start++) {
      for (let end = start + 1; end <= 300; end++) {
        let p = 1;
        while (p < end - start) p *= 2;
        if (start % p !== 0) continue;
        expect(hex(await subtreeRoot(start, end, store.get)), `[${start}, ${end})`).toBe(
          hex(mth(leaves.slice(start, end))),
        );
      }
    }
  });

  it.each([
    [1, 3, 'misaligned'],
    [2, 5, 'misaligned'],
    [4, 4, 'empty'],
    [5, 4, 'inverted'],
    [-2, 0, 'negative'],
    [0.5, 2, 'fractional'],
    [0, 2 ** 53, 'unsafe'],
  ])('subtreeRoot(%s, %s) throws a RangeError (%s)', async (start, end) => {
    await expect(subtreeRoot(start, end, store.get)).rejects.toThrow(RangeError);
  });

  it.each([-1, 2.5, Number.NaN, Number.POSITIVE_INFINITY])('treeRoot(%s) throws a RangeError', async (n) => {
    await expect(treeRoot(n, store.get)).rejects.toThrow(RangeError);
  });
});

describe('inclusionProof', () => {
  const leaves = leavesOf(130, 'incl');
  const store = integratedStore(leaves);

  it('equals RFC 9162 PATH for every leaf of every tree up to 130 leaves, within O(log² n) lookups', async () => {
    for (let n = 1; n <= 130; n++) {
      for (let i = 0; i < n; i++) {
        store.within(n);
        const proof = await inclusionProof(i, n, store.get);
        expect(hexes(proof), `PATH(${i}, D[${n}])`).toEqual(hexes(path(i, leaves.slice(0, n))));
        expect(store.calls).toBeLessThanOrEqual((log2ceil(n) + 1) ** 2);
      }
    }
  });

  it.each([
    [0, 0],
    [5, 5],
    [6, 5],
    [-1, 5],
    [1.5, 5],
    [0, 2 ** 53],
    [Number.NaN, 5],
  ])('inclusionProof(%s, %s) throws a RangeError', async (i, n) => {
    await expect(inclusionProof(i, n, store.get)).rejects.toThrow(RangeError);
  });
});

describe('consistencyProof', () => {
  const leaves = leavesOf(130, 'cons');
  const store = integratedStore(leaves);

  it('equals RFC 9162 PROOF for every pair 1 ≤ m ≤ n ≤ 130, within O(log² n) lookups', async () => {
    for (let n = 1; n <= 130; n++) {
      for (let m = 1; m <= n; m++) {
        store.within(n);
        const proof = await consistencyProof(m, n, store.get);
        expect(hexes(proof), `PROOF(${m}, D[${n}])`).toEqual(hexes(subproof(m, leaves.slice(0, n), true)));
        expect(store.calls).toBeLessThanOrEqual((log2ceil(n) + 1) ** 2);
      }
    }
  });

  it('is empty between equal sizes', async () => {
    expect(await consistencyProof(7, 7, store.get)).toEqual([]);
  });

  it.each([
    [0, 0, 'from the empty tree (meaningless, and the verifier rejects it)'],
    [0, 5, 'from the empty tree (meaningless, and the verifier rejects it)'],
    [6, 5, 'size1 > size2'],
    [-1, 5, 'negative'],
    [2, 5.5, 'fractional'],
    [1, 2 ** 53, 'unsafe'],
  ])('consistencyProof(%s, %s) throws a RangeError: %s', async (m, n) => {
    await expect(consistencyProof(m, n, store.get)).rejects.toThrow(RangeError);
  });
});

describe('sizes beyond 2^32 (no 32-bit bit arithmetic anywhere)', () => {
  // With every leaf equal, node (L, j) is the same for all j, so a 2^45-leaf tree is cheap to model
  // consistently; proofs still exercise index/size arithmetic far above 2^32.
  const base = leafHash(new TextEncoder().encode('same'));
  const byLevel: Uint8Array[] = [base];
  for (let l = 1; l <= 52; l++) byLevel.push(hashChildren(byLevel[l - 1], byLevel[l - 1]));
  const get: NodeSource = async (level) => byLevel[level];
  const big = 2 ** 45 + 12_345;

  it('produces inclusion proofs that verify for indices above 2^32', async () => {
    const root = await treeRoot(big, get);
    for (const i of [0, 2 ** 32 - 1, 2 ** 32, 2 ** 44 + 7, 2 ** 45, big - 1]) {
      const proof = await inclusionProof(i, big, get);
      expect(verifyInclusion(base, i, big, proof, root), `index ${i}`).toBe(true);
      expect(verifyInclusion(base, i, big, proof.slice(1), root), `index ${i} truncated`).toBe(false);
      expect(verifyInclusion(base, i, big, proof, byLevel[0]), `index ${i} wrong root`).toBe(false);
    }
  });

  it('produces consistency proofs that verify between sizes above 2^32', async () => {
    for (const [m, n] of [
      [2 ** 33 + 1, big],
      [2 ** 32, 2 ** 32 + 3],
      [3, big],
      [big - 1, big],
    ]) {
      const proof = await consistencyProof(m, n, get);
      expect(verifyConsistency(m, n, await treeRoot(m, get), await treeRoot(n, get), proof), `${m} → ${n}`).toBe(true);
      expect(
        verifyConsistency(m, n, await treeRoot(m, get), await treeRoot(n, get), proof.slice(1)),
        `${m} → ${n} truncated`,
      ).toBe(false);
    }
  });
});
