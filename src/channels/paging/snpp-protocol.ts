import type { Socket } from 'node:net';
import { ChannelError } from '../channel.js';

/**
 * The client side of SNPP (RFC 1861) that a one-way page needs: reading replies, the commands'
 * arguments, and what a reply code means for a retry. Level 1 (PAGEr, MESSage, SEND, QUIT) plus
 * Level 2's LOGIn. Only the first four letters of a command are significant (RFC 1861 §4), so the
 * client sends `PAGE`, `MESS`, `LOGI`, `SEND`, `QUIT`.
 */

/** A reply: its three-digit code. The text is never kept: gateways echo pager ids in it. */
export interface SnppReply {
  code: number;
}

/** A command of the dialogue, named in error details (never its argument). */
export type SnppStep = 'greeting' | 'LOGI' | 'PAGE' | 'MESS' | 'SEND';

/** Longest reply line we buffer; RFC 1861 replies are short human-readable lines. */
const MAX_LINE = 4096;

/**
 * Reads CRLF-terminated reply lines from a socket. Multi-line replies (`214` help lines, or a `nnn-`
 * continuation) are folded into their final line, whose code is the reply's.
 */
export class SnppReplyReader {
  private buffer = '';
  private lines: string[] = [];
  private waiter: { resolve: (line: string) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;

  constructor(socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.push(chunk));
    socket.on('end', () => this.fail(new ChannelError('SP_CHANNEL_SEND_FAILED', true, 'snpp connection closed')));
    socket.on('close', () => this.fail(new ChannelError('SP_CHANNEL_SEND_FAILED', true, 'snpp connection closed')));
    socket.on('error', (e) => this.fail(e));
  }

  /** The next complete reply; rejects when the connection ends or breaks first. */
  async next(): Promise<SnppReply> {
    for (;;) {
      const line = await this.line();
      const m = /^(\d{3})([ -]?)/.exec(line);
      if (!m) throw new ChannelError('SP_CHANNEL_SEND_FAILED', false, 'snpp malformed reply');
      const code = Number(m[1]);
      // 214 lines precede the 250 that ends them; a `nnn-` line (SMTP style, some gateways) continues.
      if (code === 214 || m[2] === '-') continue;
      return { code };
    }
  }

  private line(): Promise<string> {
    const ready = this.lines.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  private push(chunk: string): void {
    this.buffer += chunk;
    let i: number;
    while ((i = this.buffer.indexOf('\n')) >= 0) {
      this.deliver(this.buffer.slice(0, i).replace(/\r$/, ''));
      this.buffer = this.buffer.slice(i + 1);
    }
    if (this.buffer.length > MAX_LINE)
      this.fail(new ChannelError('SP_CHANNEL_SEND_FAILED', false, 'snpp reply too long'));
  }

  private deliver(line: string): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve(line);
    } else this.lines.push(line);
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    const w = this.waiter;
    this.waiter = null;
    w?.reject(e);
  }
}

/** Level 3 (two-way) SEND answers that still mean "accepted": 860 delivered, 960 queued. */
const SEND_ACCEPTED_LEVEL3 = new Set([860, 960]);

/** Whether `reply` to `step` is a success. */
export function isAccepted(step: SnppStep, reply: SnppReply): boolean {
  if (step === 'greeting') return reply.code === 220;
  if (reply.code >= 200 && reply.code < 300) return true;
  return step === 'SEND' && SEND_ACCEPTED_LEVEL3.has(reply.code);
}

/**
 * The ChannelError of a refused step. RFC 1861: 421 ends the session (gateway unavailable, too many
 * errors) and any 4xx is transient: retry. 550 is an administrative failure (invalid pager id, bad
 * login, illegal parameter), 500/501/503 a command the gateway will not take, 552 a limit exceeded:
 * the same page fails the same way, so not retried. 554 is a technical failure (gateway or paging
 * terminal down): worth another attempt after SEND; after PAGE/MESS/LOGI it refuses that input.
 */
export function refusal(step: SnppStep, reply: SnppReply): ChannelError {
  const { code } = reply;
  const retryable = (code >= 400 && code < 500) || (code === 554 && step === 'SEND') || step === 'greeting';
  const detail =
    step === 'PAGE' && code === 550
      ? 'snpp 550 pager id refused'
      : step === 'LOGI' && code >= 500 && code < 600
        ? `snpp ${code} login refused`
        : `snpp ${code} at ${step}`;
  return new ChannelError('SP_CHANNEL_SEND_FAILED', retryable, detail);
}

/** A pager id is one printable ASCII word: PAGEr takes `<id> [PIN]`, so a space would change its meaning. */
export function checkPagerId(id: string): string {
  if (!/^[\x21-\x7E]{1,64}$/.test(id)) {
    throw new ChannelError('SP_CHANNEL_SEND_FAILED', false, 'snpp invalid pager id');
  }
  return id;
}

/**
 * The text of a page as MESSage takes it: one line of printable ASCII, at most `maxChars` long.
 * Line breaks, tabs and other control characters become spaces (a CR/LF would end the command and
 * start another: injection), runs of spaces fold into one, accents are dropped (é → e), and
 * anything else a pager cannot show becomes `?`. Empty after that: refused, not retried.
 */
export function pageText(text: string, maxChars: number): string {
  const ascii = text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[\u0000-\u001F\u007F\u0085\u2028\u2029]+/gu, ' ')
    .replace(/[^\x20-\x7E]/gu, '?')
    .replace(/ {2,}/g, ' ')
    .trim();
  const capped = ascii.length > maxChars ? ascii.slice(0, maxChars).trimEnd() : ascii;
  if (!capped) throw new ChannelError('SP_CHANNEL_SEND_FAILED', false, 'snpp empty message');
  return capped;
}
