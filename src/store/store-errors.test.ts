import { describe, expect, it } from 'vitest';
import { isStoreUnavailable } from './store-errors.js';

const err = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('isStoreUnavailable', () => {
  it('counts connection failures, server shutdowns and busy databases as unavailable', () => {
    for (const code of [
      'ECONNREFUSED',
      'ECONNRESET',
      '57P01',
      '57P03',
      '53300',
      '3D000',
      '08006',
      'SQLITE_BUSY',
      'SQLITE_BUSY_SNAPSHOT',
      'SQLITE_IOERR_FSYNC',
      'SQLITE_LOCKED',
    ])
      expect(isStoreUnavailable(err(code)), code).toBe(true);
  });

  it('recognises node-postgres errors that carry only a message, and causes wrapped inside other errors', () => {
    expect(isStoreUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isStoreUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isStoreUnavailable(new Error('migration failed', { cause: err('ECONNREFUSED') }))).toBe(true);
  });

  it('does not count a bad query or a constraint violation as unavailable', () => {
    for (const code of ['23505', '42P01', 'SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_ERROR'])
      expect(isStoreUnavailable(err(code)), code).toBe(false);
    expect(isStoreUnavailable(new Error('syntax error'))).toBe(false);
    expect(isStoreUnavailable(undefined)).toBe(false);
  });
});
