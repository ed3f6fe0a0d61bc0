import { describe, expect, it } from 'vitest';
import { MLLP_START, MllpDecoder, MllpFramingError, frame } from './mllp.js';

const text = (bufs: Buffer[]) => bufs.map((b) => b.toString('utf8'));
const reason = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e instanceof MllpFramingError ? e.reason : 'other error';
  }
  return 'no error';
};

describe('frame', () => {
  it('wraps a payload in VT … FS CR, encoding strings as UTF-8', () => {
    expect([...frame('AB')]).toEqual([MLLP_START, 0x41, 0x42, 0x1c, 0x0d]);
    expect(frame('é').length).toBe(5);
    expect([...frame(Buffer.alloc(0))]).toEqual([0x0b, 0x1c, 0x0d]);
  });
});

describe('MllpDecoder', () => {
  it('tells keep-alive whitespace between frames (not in a frame) from bytes of a frame', () => {
    const d = new MllpDecoder(1024);
    expect(d.push(Buffer.from('\r\n \t'))).toEqual([]);
    expect(d.midFrame).toBe(false);
    expect(d.push(Buffer.from([MLLP_START, 0x41]))).toEqual([]);
    expect(d.midFrame).toBe(true);
    expect(d.push(Buffer.from('\r\n'))).toEqual([]);
    expect(d.midFrame).toBe(true);
    expect(d.push(Buffer.from([0x1c, 0x0d, 0x0a])).map(String)).toEqual(['A\r\n']);
    expect(d.midFrame).toBe(false);
  });

  it('returns one payload per frame, several frames in one chunk', () => {
    const d = new MllpDecoder(100);
    expect(text(d.push(Buffer.concat([frame('one'), frame('two'), frame('three')])))).toEqual(['one', 'two', 'three']);
    expect(d.midFrame).toBe(false);
  });

  it('reassembles a frame split at every possible byte, including between FS and CR', () => {
    const bytes = Buffer.concat([frame('MSH|^~\\&|first'), frame('second é')]);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const d = new MllpDecoder(100);
      const out = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
      expect(text(out)).toEqual(['MSH|^~\\&|first', 'second é']);
    }
  });

  it('reassembles a frame delivered one byte at a time', () => {
    const d = new MllpDecoder(100);
    const out: Buffer[] = [];
    for (const b of frame('byte by byte')) out.push(...d.push(Buffer.from([b])));
    expect(text(out)).toEqual(['byte by byte']);
  });

  it('tolerates CR, LF, space and tab between frames', () => {
    const d = new MllpDecoder(100);
    const chunk = Buffer.concat([Buffer.from('\r\n'), frame('a'), Buffer.from('\n \t'), frame('b'), Buffer.from('\r')]);
    expect(text(d.push(chunk))).toEqual(['a', 'b']);
  });

  it('keeps an FS that is not followed by CR as payload', () => {
    const d = new MllpDecoder(100);
    expect(text(d.push(Buffer.from([0x0b, 0x41, 0x1c, 0x42, 0x1c, 0x0d])))).toEqual(['A\u001cB']);
    const e = new MllpDecoder(100);
    expect(e.push(Buffer.from([0x0b, 0x41, 0x1c]))).toEqual([]);
    expect(text(e.push(Buffer.from([0x42, 0x1c, 0x0d])))).toEqual(['A\u001cB']);
  });

  it('refuses bytes outside a frame (garbage before or between frames)', () => {
    expect(reason(() => new MllpDecoder(100).push(Buffer.from('MSH|^~\\&|no framing')))).toBe('outside_frame');
    const d = new MllpDecoder(100);
    expect(reason(() => d.push(Buffer.concat([frame('ok'), Buffer.from('x'), frame('late')])))).toBe('outside_frame');
  });

  it('refuses a frame over maxBytes as soon as it is exceeded, whole or in pieces', () => {
    expect(text(new MllpDecoder(5).push(frame('12345')))).toEqual(['12345']);
    expect(reason(() => new MllpDecoder(5).push(frame('123456')))).toBe('too_large');
    const d = new MllpDecoder(5);
    d.push(Buffer.from([0x0b, 0x31, 0x32, 0x33]));
    expect(d.midFrame).toBe(true);
    // No end in sight: the limit is hit without waiting for FS.
    expect(reason(() => d.push(Buffer.from('456')))).toBe('too_large');
  });

  it('does not count a trailing FS held back across chunks as payload', () => {
    const d = new MllpDecoder(3);
    expect(d.push(Buffer.from([0x0b, 0x31, 0x32, 0x33, 0x1c]))).toEqual([]);
    expect(text(d.push(Buffer.from([0x0d])))).toEqual(['123']);
  });

  it('returns copies, unaffected by later changes to the chunk', () => {
    const d = new MllpDecoder(100);
    const chunk = Buffer.from([0x0b, 0x41, 0x42]);
    d.push(chunk);
    chunk.fill(0);
    expect(text(d.push(Buffer.from([0x43, 0x1c, 0x0d])))).toEqual(['ABC']);
  });

  it('refuses a non-positive size limit', () => {
    expect(() => new MllpDecoder(0)).toThrow(RangeError);
  });
});
