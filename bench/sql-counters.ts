import Sqlite from 'better-sqlite3';

/**
 * Counts the transaction-control statements the server runs (`commit`, `savepoint …`) in this
 * process, to show how many commands share one commit (src/store/coalescing-transactions.ts) under
 * each phase's load. Only statements with exactly that SQL are wrapped (one extra function call per
 * execution); every other statement is left untouched. Autocommitted single statements (no `begin`)
 * are not counted. Install before the server opens its database.
 */
export const sqlCounters = { commits: 0, savepoints: 0 };

let installed = false;

export function installSqlCounters(): void {
  if (installed) return;
  installed = true;
  const proto = (
    Sqlite as unknown as { prototype: { prepare: (sql: string) => { run: (...a: unknown[]) => unknown } } }
  ).prototype;
  const prepare = proto.prepare;
  proto.prepare = function (this: unknown, sql: string) {
    const st = prepare.call(this, sql);
    const key = /^commit$/i.test(sql) ? 'commits' : /^savepoint /i.test(sql) ? 'savepoints' : null;
    if (key) {
      const run = st.run.bind(st);
      st.run = (...a: unknown[]) => {
        const r = run(...a);
        sqlCounters[key]++;
        return r;
      };
    }
    return st;
  };
}

/** Counts since `from` (a copy of sqlCounters taken earlier). */
export function sqlCountsSince(from: { commits: number; savepoints: number }): { commits: number; savepoints: number } {
  return { commits: sqlCounters.commits - from.commits, savepoints: sqlCounters.savepoints - from.savepoints };
}
