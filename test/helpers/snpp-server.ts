import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';

/**
 * A real SNPP gateway (RFC 1861 Level 1, plus Level 2 LOGIn) on 127.0.0.1, over TCP or TLS from the
 * first byte, that keeps every page it accepts. Failures are scripted per connection, in order:
 * a reply code at a step, a stall (no reply: the client's deadline passes), or a close without reply.
 */

export interface SnppServerOptions {
  /** Speak TLS from the first byte with this certificate (as behind a TLS terminator). */
  tls?: { cert: string; key: string };
  /** Require `LOGIn <id> <password>` before PAGEr. */
  login?: { id: string; password: string };
  /** MESSage longer than this is refused with 550 (default 10,000). */
  maxMessageLength?: number;
}

export interface ReceivedPage {
  pagerId: string;
  message: string;
  /** True when the session ran over TLS. */
  secure: boolean;
  loginId?: string;
}

/** Where a scripted failure strikes: at the greeting or on receiving that command. */
export type SnppStage = 'greeting' | 'LOGI' | 'PAGE' | 'MESS' | 'SEND';

export type SnppFault =
  /** Answer with this line (e.g. `421 Gateway Service Unavailable`); a 421 also closes the session. */
  | { at: SnppStage; reply: string }
  /** Never answer: the session hangs until the client gives up. */
  | { at: SnppStage; stall: true }
  /** Close the connection without answering. */
  | { at: SnppStage; close: true };

export interface SnppServer {
  port: number;
  pages: ReceivedPage[];
  /** Every command line received, per session, in order (for protocol assertions). */
  sessions: string[][];
  /** Most sessions at once between connection and SEND's reply (or close): pages in flight. */
  peakInFlight: number;
  /** PAGEr with one of these ids gets `550 Error, Invalid Pager ID`. */
  unknownPagers: Set<string>;
  /** The next connections meet these faults, one per connection, in order. */
  script(...faults: SnppFault[]): void;
  close(): Promise<void>;
}

export async function startSnppServer(options: SnppServerOptions = {}): Promise<SnppServer> {
  const pages: ReceivedPage[] = [];
  const sessions: string[][] = [];
  const unknownPagers = new Set<string>();
  const faults: SnppFault[] = [];
  const sockets = new Set<Socket>();
  const maxMessageLength = options.maxMessageLength ?? 10_000;
  const inFlight = { now: 0, peak: 0 };

  const serve = (socket: Socket) => {
    sockets.add(socket);
    inFlight.now += 1;
    inFlight.peak = Math.max(inFlight.peak, inFlight.now);
    let landed = false;
    const land = () => {
      if (!landed) inFlight.now -= 1;
      landed = true;
    };
    socket.on('close', () => {
      sockets.delete(socket);
      land();
    });
    socket.on('error', () => socket.destroy());
    const lines: string[] = [];
    sessions.push(lines);
    const fault = faults.shift();
    const state = { pagerId: undefined as string | undefined, message: undefined as string | undefined };
    let loginId: string | undefined;
    const reply = (line: string) => socket.write(`${line}\r\n`);

    /** Applies the fault scripted for `stage`; true when it took over the answer. */
    const faulted = (stage: SnppStage): boolean => {
      if (!fault || fault.at !== stage) return false;
      if ('stall' in fault) return true;
      if ('close' in fault) socket.destroy();
      else {
        reply(fault.reply);
        if (fault.reply.startsWith('421')) socket.end();
      }
      return true;
    };

    const command = (line: string) => {
      lines.push(line);
      const space = line.indexOf(' ');
      // RFC 1861 §4: only the first four characters of a command are significant.
      const verb = (space < 0 ? line : line.slice(0, space)).slice(0, 4).toUpperCase();
      const arg = space < 0 ? '' : line.slice(space + 1);
      switch (verb) {
        case 'LOGI': {
          if (faulted('LOGI')) return;
          const [id, password] = arg.split(' ');
          const ok = options.login && id === options.login.id && password === options.login.password;
          if (ok) loginId = id;
          return reply(ok ? '250 Login Accepted' : '550 Error, Invalid Login');
        }
        case 'PAGE': {
          if (faulted('PAGE')) return;
          if (options.login && !loginId) return reply('550 Error, Login Required');
          const id = arg.split(' ')[0] ?? '';
          if (!id || unknownPagers.has(id)) return reply('550 Error, Invalid Pager ID');
          state.pagerId = id;
          return reply('250 Pager ID Accepted');
        }
        case 'MESS': {
          if (faulted('MESS')) return;
          if (state.message !== undefined) return reply('503 ERROR, Message Already Entered');
          if (arg.length > maxMessageLength) return reply('550 Error, Message Too Long');
          state.message = arg;
          return reply('250 Message OK');
        }
        case 'RESE':
          state.pagerId = state.message = undefined;
          return reply('250 RESET OK');
        case 'SEND': {
          if (faulted('SEND')) return;
          if (!state.pagerId || state.message === undefined) return reply('503 Error, Pager ID or Message Incomplete');
          pages.push({ pagerId: state.pagerId, message: state.message, secure: !!options.tls, loginId });
          state.pagerId = state.message = undefined;
          land();
          return reply('250 Message Sent Successfully');
        }
        case 'HELP':
          reply('214 PAGEr <Pager ID>');
          reply('214 MESSage <Alpha or Numeric Message>');
          reply('214 RESEt, SEND, QUIT, HELP, LOGIn <id> [password]');
          return reply('250 End of Help Information');
        case 'QUIT':
          reply('221 OK, Goodbye');
          return void socket.end();
        default:
          return reply('500 Command Not Implemented, Try Again');
      }
    };

    let buffer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let i: number;
      while ((i = buffer.indexOf('\r\n')) >= 0 && !socket.destroyed) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        command(line);
      }
    });
    if (!faulted('greeting')) reply('220 SNPP (V3) Gateway Ready');
  };

  const server: Server = options.tls
    ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, serve)
    : createTcpServer(serve);
  // A client that refuses our certificate aborts the handshake: nothing to do.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    port: (server.address() as AddressInfo).port,
    pages,
    sessions,
    get peakInFlight() {
      return inFlight.peak;
    },
    unknownPagers,
    script: (...f) => void faults.push(...f),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
