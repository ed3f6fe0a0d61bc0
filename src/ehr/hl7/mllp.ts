/**
 * MLLP framing (HL7 v2 Minimal Lower Layer Protocol, HL7 v2.5.1 Appendix C / "MLLP Release 2"):
 * each message travels as <VT 0x0B> payload <FS 0x1C><CR 0x0D>.
 */

export const MLLP_START = 0x0b;
export const MLLP_END = 0x1c;
export const MLLP_CR = 0x0d;

/** An MLLP framing violation; the connection cannot be resynchronised safely and is closed. */
export class MllpFramingError extends Error {
  readonly reason: 'too_large' | 'outside_frame';
  constructor(reason: 'too_large' | 'outside_frame') {
    super(
      reason === 'too_large'
        ? 'An MLLP frame exceeds the maximum message size'
        : 'Bytes arrived outside an MLLP frame (expected 0x0B)',
    );
    this.name = 'MllpFramingError';
    this.reason = reason;
  }
}

/** Wraps one payload (a string is encoded as UTF-8) in an MLLP frame. */
export function frame(payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const out = Buffer.allocUnsafe(body.length + 3);
  out[0] = MLLP_START;
  body.copy(out, 1);
  out[body.length + 1] = MLLP_END;
  out[body.length + 2] = MLLP_CR;
  return out;
}

/**
 * Incremental MLLP decoder: feed it chunks as they arrive, get back the payloads completed so far.
 *
 * - A frame may be split across any number of chunks, and a chunk may hold several frames.
 * - Whitespace (CR, LF, space, tab) between frames is tolerated: some senders end a frame with FS CR LF or
 *   send a keep-alive newline (the listener does not count it as activity: {@link midFrame} tells a byte of a
 *   frame from one between frames). Any other byte outside a frame is an error: the stream is not MLLP (or is out
 *   of step), and guessing where the next message starts could apply half of one.
 * - A payload longer than `maxBytes` is an error as soon as it exceeds the limit, without buffering the rest.
 * - FS not followed by CR ends the frame only when CR follows; FS inside a payload followed by anything else
 *   is kept as payload (MLLP Release 2 forbids it, but it is not ours to drop).
 * After an error the decoder must not be used again.
 */
export class MllpDecoder {
  readonly #maxBytes: number;
  #parts: Buffer[] = [];
  #length = 0;
  #inFrame = false;
  /** The previous chunk ended with FS inside a frame: a CR at the start of the next one closes the frame. */
  #pendingEnd = false;

  constructor(maxBytes: number) {
    if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new RangeError('maxBytes must be a positive integer');
    this.#maxBytes = maxBytes;
  }

  /** Whether a frame has started and not yet ended (a connection closing now loses a partial message). */
  get midFrame(): boolean {
    return this.#inFrame;
  }

  /** Complete payloads found in this chunk (and earlier ones); throws {@link MllpFramingError}. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (!this.#inFrame) {
        const b = chunk[i]!;
        if (b === MLLP_START) {
          this.#inFrame = true;
          this.#parts = [];
          this.#length = 0;
        } else if (b !== 0x0d && b !== 0x0a && b !== 0x20 && b !== 0x09) {
          throw new MllpFramingError('outside_frame');
        }
        i++;
        continue;
      }
      if (this.#pendingEnd) {
        this.#pendingEnd = false;
        if (chunk[i] === MLLP_CR) {
          out.push(this.#finish());
          i++;
          continue;
        }
        this.#append(Buffer.from([MLLP_END]));
      }
      let end = chunk.indexOf(MLLP_END, i);
      while (end >= 0 && end + 1 < chunk.length && chunk[end + 1] !== MLLP_CR) {
        end = chunk.indexOf(MLLP_END, end + 1);
      }
      if (end < 0) {
        this.#append(chunk.subarray(i));
        break;
      }
      this.#append(chunk.subarray(i, end));
      if (end + 1 === chunk.length) {
        this.#pendingEnd = true;
        break;
      }
      out.push(this.#finish());
      i = end + 2;
    }
    return out;
  }

  #append(part: Buffer): void {
    if (part.length === 0) return;
    this.#length += part.length;
    if (this.#length > this.#maxBytes) {
      this.#parts = [];
      throw new MllpFramingError('too_large');
    }
    // Copy: the socket may reuse the chunk's memory once the data event returns.
    this.#parts.push(Buffer.from(part));
  }

  #finish(): Buffer {
    const payload = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts, this.#length);
    this.#parts = [];
    this.#length = 0;
    this.#inFrame = false;
    return payload;
  }
}
