/** Connection-level failures (as opposed to a bad query): the database is down, unreachable or restarting. */
const NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
const SQLITE_CODES = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_CANTOPEN']);
// 57P01-03: admin shutdown / crash shutdown / cannot connect now; 53300: too many connections;
// 3D000: the database does not exist (yet); 57014: statement timeout.
const PG_CODES = new Set(['57P01', '57P02', '57P03', '53300', '3D000', '57014']);

/** True when `err` (or its cause) means "the database is unavailable now": answer 503 and retry later. */
export function isStoreUnavailable(err: unknown): boolean {
  for (
    let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0;
    e && depth < 5;
    e = e.cause as typeof e, depth++
  ) {
    const code = typeof e.code === 'string' ? e.code : '';
    // SQLite's extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_IOERR_FSYNC, …) count as their primary code.
    const primary = code.startsWith('SQLITE_') ? code.split('_').slice(0, 2).join('_') : code;
    if (
      code === 'SP_STORE_UNAVAILABLE' ||
      NODE_CODES.has(code) ||
      SQLITE_CODES.has(primary) ||
      PG_CODES.has(code) ||
      code.startsWith('08')
    )
      return true;
    // node-postgres reports a dropped socket and a pool wait timeout by message only.
    const msg = typeof e.message === 'string' ? e.message : '';
    if (
      /^Connection terminated|^timeout exceeded when trying to connect|^Client has encountered a connection error|Connection terminated unexpectedly/.test(
        msg,
      )
    )
      return true;
  }
  return false;
}
