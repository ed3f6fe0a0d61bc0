/**
 * RFC 9162 §2.1 inclusion-proof verification, the client's own copy of the server's check
 * (src/audit/merkle.ts), over WebCrypto SHA-256 so it runs in browsers. It never throws: anything
 * malformed (sizes, indexes, hash lengths, proof length) makes it return false.
 */
import { bytesEqual, sha256 } from '../encoding.js';

const HASH_SIZE = 32;

/** RFC 9162 leaf hash: SHA-256(0x00 ‖ entry). */
export const leafHash = (entry: Uint8Array): Promise<Uint8Array> => sha256(Uint8Array.of(0x00), entry);

const nodeHash = (l: Uint8Array, r: Uint8Array) => sha256(Uint8Array.of(0x01), l, r);
const isSize = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
const isHash = (h: unknown): h is Uint8Array => h instanceof Uint8Array && h.length === HASH_SIZE;

/**
 * Verifies that `leaf` (a leaf hash) is at `index` in the tree of `treeSize` leaves whose root is
 * `root`, given the audit path `proof` (bottom-up), per RFC 9162 §2.1.3.2.
 */
export async function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  treeSize: number,
  proof: Uint8Array[],
  root: Uint8Array,
): Promise<boolean> {
  try {
    if (!isSize(index) || !isSize(treeSize) || index >= treeSize) return false;
    if (!isHash(leaf) || !isHash(root) || !Array.isArray(proof) || !proof.every(isHash)) return false;
    let fn = index;
    let sn = treeSize - 1;
    let r = leaf;
    for (const p of proof) {
      if (sn === 0) return false; // proof too long
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) {
            fn = Math.floor(fn / 2);
            sn = Math.floor(sn / 2);
          }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && bytesEqual(r, root); // sn ≠ 0: proof too short
  } catch {
    return false;
  }
}
