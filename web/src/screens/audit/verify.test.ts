import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { leafHash as serverLeafHash } from '../../../../src/audit/merkle.js';
import { consistencyProof, inclusionProof, treeRoot } from '../../../../src/audit/merkle-proofs.js';
import { formatCheckpoint, signNote, verifierKey } from '../../../../src/audit/checkpoint.js';
import { checkCheckpoint, parseVerifierKey, verifyConsistency, verifyInclusion } from './verify';

const leaves = Array.from({ length: 37 }, (_, i) => serverLeafHash(new TextEncoder().encode(`entry ${i}`)));
const get = async (level: number, index: number) => {
  const w = 2 ** level;
  const { hashChildren } = await import('../../../../src/audit/merkle.js');
  const build = (lo: number, hi: number): Uint8Array =>
    hi - lo === 1 ? leaves[lo]! : hashChildren(build(lo, lo + (hi - lo) / 2), build(lo + (hi - lo) / 2, hi));
  return build(index * w, index * w + w);
};

describe("the console's proof checks (Web Crypto) against the server's proofs", () => {
  it('accepts every inclusion and consistency proof the server computes, and refuses altered ones', async () => {
    for (const size of [1, 2, 3, 7, 8, 13, 32, 37]) {
      const root = await treeRoot(size, get);
      for (const index of [0, Math.floor(size / 2), size - 1]) {
        const proof = await inclusionProof(index, size, get);
        expect(await verifyInclusion(leaves[index]!, index, size, proof, root)).toBe(true);
        if (size > 1) expect(await verifyInclusion(leaves[index]!, (index + 1) % size, size, proof, root)).toBe(false);
      }
      for (const from of [1, 2, 3, 5, 8, size]) {
        if (from > size) continue;
        const proof = await consistencyProof(from, size, get);
        const r1 = await treeRoot(from, get);
        expect(await verifyConsistency(from, size, r1, root, proof), `${from}→${size}`).toBe(true);
        if (from < size) expect(await verifyConsistency(from, size, root, r1, proof)).toBe(false);
      }
    }
  });

  it('checks the Ed25519 signature of a checkpoint note and refuses a note whose body was changed', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const origin = 'clinic.example/sealpost/audit';
    const root = await treeRoot(13, get);
    const note = signNote(formatCheckpoint(origin, 13, root), origin, privateKey);
    const key = (await parseVerifierKey(verifierKey(origin, publicKey)))!;
    expect(key).not.toBeNull();
    const ok = await checkCheckpoint(note, key);
    expect(ok).toMatchObject({ origin, size: 13, signature: 'valid' });
    expect(Buffer.from(ok!.root).equals(Buffer.from(root))).toBe(true);
    const forged = note.replace('\n13\n', '\n14\n');
    expect((await checkCheckpoint(forged, key))?.signature).toBe('invalid');
    expect(await parseVerifierKey(verifierKey(origin, publicKey).replace(/\+[0-9a-f]{8}\+/, '+00000000+'))).toBeNull();
  });
});
