/**
 * Server-side RFC 9162 §2.1 proof generation over stored perfect subtrees.
 *
 * Storage model: leaves are numbered 0..n-1; node (level L, index j) is the hash of the perfect
 * subtree covering leaves [j·2^L, (j+1)·2^L), level 0 being the leaf hashes. Such a node never
 * changes once complete, so an integrator can store it once (see {@link perfectNodesCompletedBy}).
 * Every range the RFC recursion asks for decomposes into at most log2(n)+1 of those nodes, so each
 * proof costs O(log² n) lookups and no node of an incomplete subtree is ever requested.
 */
import { emptyRoot, hashChildren } from './merkle.js';

export { hashChildren } from './merkle.js';

/**
 * Returns the stored hash of the perfect subtree (level, index). Only ever asked for subtrees lying
 * entirely inside the tree size being used.
 */
export type NodeSource = (level: number, index: number) => Promise<Uint8Array>;

/**
 * MTH(D[start:end]) (RFC 9162 §2.1.1). `start` must be aligned as in the RFC recursion: a multiple
 * of the smallest power of two ≥ end − start. The range is then the binary decomposition of its
 * size into aligned perfect subtrees, largest first, folded right to left.
 * @throws RangeError on a non-integer, unsafe, empty or misaligned range.
 */
export async function subtreeRoot(start: number, end: number, get: NodeSource): Promise<Uint8Array> {
  checkSize(start, 'start');
  checkSize(end, 'end');
  if (start >= end) throw new RangeError(`empty or inverted range [${start}, ${end})`);
  if (start % ceilPow2(end - start) !== 0) {
    throw new RangeError(`range [${start}, ${end}) is not aligned to a subtree boundary`);
  }
  const nodes: Uint8Array[] = [];
  let pos = start;
  for (let size = floorPow2(end - start), level = log2(size); pos < end; size /= 2, level--) {
    if (pos + size <= end) {
      nodes.push(await get(level, pos / size));
      pos += size;
    }
  }
  let root = nodes[nodes.length - 1];
  for (let k = nodes.length - 2; k >= 0; k--) root = hashChildren(nodes[k], root);
  return root;
}

/** MTH of the first `size` leaves; SHA-256("") for size 0. */
export async function treeRoot(size: number, get: NodeSource): Promise<Uint8Array> {
  checkSize(size, 'size');
  return size === 0 ? emptyRoot() : subtreeRoot(0, size, get);
}

/**
 * RFC 9162 §2.1.3.1 PATH(index, D[size]): the audit path of leaf `index`, bottom-up.
 * @throws RangeError unless 0 ≤ index < size (safe integers).
 */
export async function inclusionProof(index: number, size: number, get: NodeSource): Promise<Uint8Array[]> {
  checkSize(index, 'index');
  checkSize(size, 'size');
  if (index >= size) throw new RangeError(`index ${index} is not below tree size ${size}`);
  const topDown: Uint8Array[] = [];
  let lo = 0;
  let hi = size;
  while (hi - lo > 1) {
    const k = largestPow2Below(hi - lo);
    if (index < lo + k) {
      topDown.push(await subtreeRoot(lo + k, hi, get)); // PATH(m, D[0:k]) : MTH(D[k:n])
      hi = lo + k;
    } else {
      topDown.push(await get(log2(k), lo / k)); // PATH(m − k, D[k:n]) : MTH(D[0:k])
      lo += k;
    }
  }
  return topDown.reverse();
}

/**
 * RFC 9162 §2.1.4.1 PROOF(size1, D[size2]) via SUBPROOF. Empty when size1 = size2.
 * @throws RangeError unless 0 < size1 ≤ size2 (safe integers): a proof from the empty tree is
 *   meaningless and verifyConsistency rejects it.
 */
export async function consistencyProof(size1: number, size2: number, get: NodeSource): Promise<Uint8Array[]> {
  checkSize(size1, 'size1');
  checkSize(size2, 'size2');
  if (size1 === 0) throw new RangeError('a consistency proof from the empty tree is meaningless');
  if (size1 > size2) throw new RangeError(`size1 ${size1} exceeds size2 ${size2}`);
  const topDown: Uint8Array[] = [];
  let lo = 0;
  let hi = size2;
  let b = true; // SUBPROOF's flag: still on the left edge, where the verifier knows MTH(D[0:m])
  while (size1 < hi) {
    const k = largestPow2Below(hi - lo);
    if (size1 - lo <= k) {
      topDown.push(await subtreeRoot(lo + k, hi, get)); // SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
      hi = lo + k;
    } else {
      topDown.push(await get(log2(k), lo / k)); // SUBPROOF(m − k, D[k:n], false) : MTH(D[0:k])
      lo += k;
      b = false;
    }
  }
  // m = n: SUBPROOF is {} when b, else {MTH(D[lo:hi])}.
  const proof = b ? [] : [await subtreeRoot(lo, hi, get)];
  return proof.concat(topDown.reverse());
}

/**
 * The nodes of level ≥ 1 that become complete when leaf `leafIndex` is appended, lowest first:
 * one per trailing one bit of `leafIndex`. Node (L, j) = hashChildren((L−1, 2j), (L−1, 2j+1)).
 * @throws RangeError on a negative, non-integer or unsafe index.
 */
export function perfectNodesCompletedBy(leafIndex: number): { level: number; index: number }[] {
  checkSize(leafIndex, 'leafIndex');
  const out: { level: number; index: number }[] = [];
  for (let j = leafIndex, level = 1; j % 2 === 1; j = (j - 1) / 2, level++) {
    out.push({ level, index: (j - 1) / 2 });
  }
  return out;
}

function checkSize(x: number, name: string): void {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) {
    throw new RangeError(`${name} must be a non-negative safe integer`);
  }
}

// Arithmetic instead of bit operators: sizes may exceed 2^31.
function floorPow2(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

function ceilPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Largest power of two strictly smaller than n (n ≥ 2): the RFC's split point k. */
function largestPow2Below(n: number): number {
  return floorPow2(n - 1);
}

function log2(p: number): number {
  let l = 0;
  for (; p > 1; p /= 2) l++;
  return l;
}
