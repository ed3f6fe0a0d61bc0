import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AppError } from '../core/errors.js';
import {
  formatCheckpoint,
  keyId,
  parseCheckpoint,
  parseVerifierKey,
  signNote,
  verifierKey,
  verifyNote,
} from './checkpoint.js';

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function fromSeed(seed: Buffer): { privateKey: KeyObject; publicKey: KeyObject } {
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const NAME = 'sealpost.example/log';
const ROOT = createHash('sha256').update('root').digest();

/** Splits `a+b+rest` at its first `count` plus signs (base64 key data may itself contain "+"). */
function chop(s: string, count: number): string[] {
  const parts: string[] = [];
  let rest = s;
  for (let i = 0; i < count; i++) {
    const at = rest.indexOf('+');
    parts.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  return [...parts, rest];
}

function expectInvalid(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).code).toBe('SP_AUDIT_CHECKPOINT_INVALID');
    return;
  }
  throw new Error('expected SP_AUDIT_CHECKPOINT_INVALID');
}

/**
 * Published vector from golang.org/x/mod/sumdb/note, example_test.go (ExampleSign / ExampleOpen),
 * https://go.googlesource.com/mod/+/1e9a5aeb397f5c4abf7aa1927d01575defde85d3/sumdb/note/example_test.go
 * The skey's key data is 0x01 ‖ 32-byte Ed25519 seed; Ed25519 is deterministic, so signing the
 * same text must reproduce the published note byte for byte.
 */
const GO = {
  skey: 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz',
  vkey: 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
  text: "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n",
  note:
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n" +
    '\n' +
    '\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n',
};

describe('Go sumdb/note published vector', () => {
  const skeyData = Buffer.from(chop(GO.skey, 4)[4], 'base64');
  const goKey = fromSeed(skeyData.subarray(1));

  it('derives the published vkey and key ID from the published skey', () => {
    expect(skeyData[0]).toBe(0x01);
    expect(verifierKey('PeterNeumann', goKey.publicKey)).toBe(GO.vkey);
    expect(Buffer.from(keyId('PeterNeumann', goKey.publicKey)).toString('hex')).toBe('c74f20a3');
  });

  it('reproduces the published signed note exactly and verifies it', () => {
    expect(signNote(GO.text, 'PeterNeumann', goKey.privateKey)).toBe(GO.note);
    const parsed = parseVerifierKey(GO.vkey);
    expect(parsed.name).toBe('PeterNeumann');
    expect(Buffer.from(parsed.keyId).toString('hex')).toBe('c74f20a3');
    expect(verifyNote(GO.note, 'PeterNeumann', parsed.publicKey)).toEqual({ text: GO.text });
  });

  it('key ID equals an independent SHA-256 over name ‖ 0x0A ‖ 0x01 ‖ public key', () => {
    const raw = Buffer.from(chop(GO.vkey, 2)[2], 'base64').subarray(1);
    const expected = createHash('sha256')
      .update(Buffer.concat([Buffer.from('PeterNeumann\n\x01', 'latin1'), raw]))
      .digest()
      .subarray(0, 4);
    expect(Buffer.from(keyId('PeterNeumann', goKey.publicKey))).toEqual(expected);
  });
});

describe('signed notes', () => {
  const text = formatCheckpoint(NAME, 42, ROOT);
  const note = signNote(text, NAME, privateKey);

  it('round-trips and has the C2SP layout', () => {
    expect(note.startsWith(text + '\n\u2014 ' + NAME + ' ')).toBe(true);
    expect(note.endsWith('\n')).toBe(true);
    const sig = Buffer.from(
      note
        .slice(text.length + 1)
        .trimEnd()
        .split(' ')[2],
      'base64',
    );
    expect(sig.length).toBe(68);
    expect(Buffer.from(sig.subarray(0, 4))).toEqual(Buffer.from(keyId(NAME, publicKey)));
    expect(verifyNote(note, NAME, publicKey)).toEqual({ text });
    expect(parseCheckpoint(verifyNote(note, NAME, publicKey)!.text)).toEqual({
      origin: NAME,
      size: 42,
      root: new Uint8Array(ROOT),
      extensions: [],
    });
  });

  it('verifier key round-trips', () => {
    const vkey = verifierKey(NAME, publicKey);
    expect(vkey).toMatch(/^sealpost\.example\/log\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
    const parsed = parseVerifierKey(vkey);
    expect(parsed.name).toBe(NAME);
    expect(verifyNote(note, parsed.name, parsed.publicKey)).toEqual({ text });
  });

  it('ignores signatures by unknown keys and accepts several signature lines', () => {
    const cosigned = signNote(text, 'witness.example', other.privateKey);
    const both = note + cosigned.slice(text.length + 1);
    expect(verifyNote(both, NAME, publicKey)).toEqual({ text });
    expect(verifyNote(both, 'witness.example', other.publicKey)).toEqual({ text });
  });

  it('rejects a tampered text', () => {
    expect(verifyNote(note.replace('\n42\n', '\n43\n'), NAME, publicKey)).toBeNull();
  });

  it('rejects a tampered signature', () => {
    const line = note.slice(text.length + 1);
    const b64 = line.trimEnd().split(' ')[2];
    const sig = Buffer.from(b64, 'base64');
    sig[10] ^= 0x01;
    expect(verifyNote(text + '\n' + line.replace(b64, sig.toString('base64')), NAME, publicKey)).toBeNull();
    // a truncated signature with the right key ID
    const short = Buffer.concat([sig.subarray(0, 4), sig.subarray(4, 40)]).toString('base64');
    expect(verifyNote(text + '\n' + line.replace(b64, short), NAME, publicKey)).toBeNull();
  });

  it('rejects the wrong key and the wrong key name', () => {
    expect(verifyNote(note, NAME, other.publicKey)).toBeNull();
    expect(verifyNote(note, 'sealpost.example/other', publicKey)).toBeNull();
    // same key, signed under another name: key ID differs, so no signature by (NAME, key)
    expect(verifyNote(signNote(text, 'other.example', privateKey), NAME, publicKey)).toBeNull();
  });

  it('rejects a missing blank line, extra trailing data and other malformed notes (never throws)', () => {
    expect(verifyNote(note.replace('\n\n\u2014', '\n\u2014'), NAME, publicKey)).toBeNull();
    expect(verifyNote(note + 'trailing', NAME, publicKey)).toBeNull();
    expect(verifyNote(note + '\n', NAME, publicKey)).toBeNull();
    expect(verifyNote(note + 'x\n', NAME, publicKey)).toBeNull();
    expect(verifyNote(note.slice(0, -1), NAME, publicKey)).toBeNull();
    expect(verifyNote(note.replace('\u2014', '-'), NAME, publicKey)).toBeNull();
    expect(verifyNote(note.replace('\n', '\r\n'), NAME, publicKey)).toBeNull();
    expect(verifyNote(text + '\n', NAME, publicKey)).toBeNull();
    expect(verifyNote('', NAME, publicKey)).toBeNull();
    expect(verifyNote(note, '', publicKey)).toBeNull();
    expect(verifyNote(note, NAME, privateKey)).toBeNull(); // a private key is not a verifier
    const tooMany =
      note +
      signNote(text, 'w.example', other.privateKey)
        .slice(text.length + 1)
        .repeat(100);
    expect(verifyNote(tooMany, NAME, publicKey)).toBeNull();
  });

  it('refuses non-Ed25519 keys', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ed448 = generateKeyPairSync('ed448');
    expectInvalid(() => signNote(text, NAME, ec.privateKey));
    expectInvalid(() => signNote(text, NAME, ed448.privateKey));
    expectInvalid(() => keyId(NAME, ec.publicKey));
    expectInvalid(() => verifierKey(NAME, ed448.publicKey));
    expect(verifyNote(note, NAME, ec.publicKey)).toBeNull();
    // a note "signed" with Ed448 under the Ed25519 key ID layout does not verify under either key
    const forged = `${text}\n\u2014 ${NAME} ${Buffer.concat([Buffer.from(keyId(NAME, publicKey)), sign(null, Buffer.from(text), ed448.privateKey)]).toString('base64')}\n`;
    expect(verifyNote(forged, NAME, publicKey)).toBeNull();
    expect(verifyNote(forged, NAME, ed448.publicKey)).toBeNull();
    // a vkey with a non-Ed25519 algorithm byte
    const vkey = verifierKey(NAME, publicKey);
    const data = Buffer.from(chop(vkey, 2)[2], 'base64');
    data[0] = 0x02;
    expectInvalid(() => parseVerifierKey(`${NAME}+${chop(vkey, 2)[1]}+${data.toString('base64')}`));
  });

  it('refuses bad note text, key names and verifier keys', () => {
    expectInvalid(() => signNote('no newline', NAME, privateKey));
    expectInvalid(() => signNote('', NAME, privateKey));
    expectInvalid(() => signNote('a\r\n', NAME, privateKey));
    expectInvalid(() => signNote(text, 'has space', privateKey));
    expectInvalid(() => signNote(text, 'has+plus', privateKey));
    expectInvalid(() => signNote(text, '', privateKey));
    expectInvalid(() => keyId('a\u00a0b', publicKey));
    const vkey = verifierKey(NAME, publicKey);
    const [, id, key] = chop(vkey, 2);
    expectInvalid(() => parseVerifierKey(`${NAME}+${id}`));
    expectInvalid(() => parseVerifierKey(`${NAME}+00000000+${key}`)); // wrong key ID
    expectInvalid(() => parseVerifierKey(`other.example+${id}+${key}`)); // ID bound to the name
    expectInvalid(() => parseVerifierKey(`${NAME}+${id}+${key.slice(0, -4)}`)); // short key
    expectInvalid(() => parseVerifierKey(`${NAME}+${id.slice(1)}+${key}`));
    expectInvalid(() => parseVerifierKey(`bad name+${id}+${key}`));
  });
});

describe('tlog-checkpoint body', () => {
  const rootB64 = ROOT.toString('base64');

  it('formats the three mandatory lines', () => {
    expect(formatCheckpoint('sealpost.example/log', 0, ROOT)).toBe(`sealpost.example/log\n0\n${rootB64}\n`);
    expect(formatCheckpoint('o', Number.MAX_SAFE_INTEGER, ROOT)).toBe(`o\n9007199254740991\n${rootB64}\n`);
  });

  it('validates format arguments', () => {
    expectInvalid(() => formatCheckpoint('', 1, ROOT));
    expectInvalid(() => formatCheckpoint('a\nb', 1, ROOT));
    expectInvalid(() => formatCheckpoint('o', -1, ROOT));
    expectInvalid(() => formatCheckpoint('o', 1.5, ROOT));
    expectInvalid(() => formatCheckpoint('o', Number.MAX_SAFE_INTEGER + 1, ROOT));
    expectInvalid(() => formatCheckpoint('o', Number.NaN, ROOT));
    expectInvalid(() => formatCheckpoint('o', 1, ROOT.subarray(0, 31)));
    expectInvalid(() => formatCheckpoint('o', 1, new Uint8Array(33)));
  });

  it('parses bodies with extension lines', () => {
    const body = `example.com/behind-the-sofa\n20852163\n${rootB64}\nextension one\n\u2014 ext two\n`;
    expect(parseCheckpoint(body)).toEqual({
      origin: 'example.com/behind-the-sofa',
      size: 20852163,
      root: new Uint8Array(ROOT),
      extensions: ['extension one', '\u2014 ext two'],
    });
    expect(parseCheckpoint(`o\n0\n${rootB64}\n`).size).toBe(0);
  });

  it('rejects malformed bodies', () => {
    const bad = [
      '',
      'o\n',
      'o\n1\n',
      `o\n1\n${rootB64}`, // no final newline
      `\n1\n${rootB64}\n`, // empty origin
      `o\n\n${rootB64}\n`, // empty size
      `o\n01\n${rootB64}\n`, // leading zero
      `o\n00\n${rootB64}\n`,
      `o\n+1\n${rootB64}\n`,
      `o\n-1\n${rootB64}\n`,
      `o\n1.0\n${rootB64}\n`,
      `o\n0x10\n${rootB64}\n`,
      `o\n1e3\n${rootB64}\n`,
      `o\n 1\n${rootB64}\n`,
      `o\n١\n${rootB64}\n`, // non-ASCII digit
      `o\n9007199254740992\n${rootB64}\n`, // beyond safe integer
      `o\n1\n${rootB64.replace('=', '')}\n`, // unpadded
      `o\n1\n${ROOT.toString('base64url')}\n`,
      `o\n1\n${rootB64.slice(0, -2)}!=\n`,
      `o\n1\n ${rootB64}\n`,
      `o\n1\n${ROOT.subarray(0, 31).toString('base64')}\n`, // 31 bytes
      `o\n1\n${Buffer.concat([ROOT, Buffer.from([0])]).toString('base64')}\n`, // 33 bytes
      `o\n1\n${rootB64}\n\n`, // empty extension line
      `o\r\n1\r\n${rootB64}\r\n`, // CRLF
      `o\n1\n${rootB64}\r\n`,
      `o\n1\n${rootB64}\next\r\n`,
    ];
    for (const b of bad) expectInvalid(() => parseCheckpoint(b));
  });

  it('rejects non-canonical base64 (stray low bits)', () => {
    // 32 bytes encode to 43 chars + "="; the last char carries 2 unused bits that must be zero.
    const b64 = Buffer.alloc(32).toString('base64'); // 'AAAA…AA='
    expect(parseCheckpoint(`o\n1\n${b64}\n`).root).toEqual(new Uint8Array(32));
    expectInvalid(() => parseCheckpoint(`o\n1\n${b64.slice(0, -2)}B=\n`));
  });
});
