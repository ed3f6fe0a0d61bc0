import { describe, expect, it } from 'vitest';
import { loadConfig } from './load-config.js';

describe('SEALPOST_HTTP_* limits', () => {
  it('has bounded defaults: headers within the request, a per-address cap', () => {
    expect(loadConfig({ SEALPOST_DATA_DIR: '/tmp/x' }).http).toEqual({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
      maxConnectionsPerAddress: 100,
    });
  });

  it('refuses headers allowed longer than the whole request, and out-of-range values', () => {
    for (const env of [
      { SEALPOST_HTTP_HEADERS_TIMEOUT_MS: '20000', SEALPOST_HTTP_REQUEST_TIMEOUT_MS: '10000' },
      { SEALPOST_HTTP_REQUEST_TIMEOUT_MS: '0' },
      { SEALPOST_HTTP_KEEP_ALIVE_TIMEOUT_MS: 'soon' },
      { SEALPOST_HTTP_MAX_CONNECTIONS_PER_ADDRESS: '-1' },
    ])
      expect(() => loadConfig({ SEALPOST_DATA_DIR: '/tmp/x', ...env }), JSON.stringify(env)).toThrow(/SEALPOST_HTTP_/);
  });
});
