/**
 * Shared helpers of the RFC 9420 test-vector tests: loading a vendored vector file and turning
 * its hex strings into bytes. The vectors themselves live in sdk/test/vectors/ (see its README).
 */
import { readFileSync } from 'node:fs';
import { getCiphersuiteFromId, type CiphersuiteId, type CiphersuiteImpl } from 'ts-mls/crypto/ciphersuite.js';
import { getCiphersuiteImpl } from 'ts-mls/crypto/getCiphersuiteImpl.js';

/** Reads one vendored vector file (an array of cases). */
export function loadVectors<T>(file: string): T[] {
  const url = new URL(`./${file}`, import.meta.url);
  const parsed: unknown = JSON.parse(readFileSync(url, 'utf8'));
  if (!Array.isArray(parsed) || parsed.length === 0) throw new Error(`${file}: no test cases`);
  return parsed as T[];
}

/** Hex (either case, as the working group's files mix them) to bytes. */
export function hex(value: string): Uint8Array {
  if (value.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(value)) throw new Error('not hex');
  return new Uint8Array(Buffer.from(value, 'hex'));
}

/** Bytes to lowercase hex, so expectations compare strings and failures print readably. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** The ts-mls implementation of an RFC 9420 cipher suite number. */
export async function suite(id: number): Promise<CiphersuiteImpl> {
  return getCiphersuiteImpl(getCiphersuiteFromId(id as CiphersuiteId));
}
