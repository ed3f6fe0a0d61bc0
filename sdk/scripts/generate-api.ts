/**
 * Regenerates `sdk/src/generated/api.d.ts` from the server's OpenAPI document: builds the app the
 * way the tests do (a fresh SQLite data dir, no listener), reads /openapi.json through inject() and
 * runs openapi-typescript's Node API over it. `node bin/run-ts.js sdk/scripts/generate-api.ts`;
 * sdk/test/generated-api.test.ts fails when the committed file differs from a fresh one.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';
import { loadConfig } from '../../src/config/load-config.js';
import { buildApp } from '../../src/app.js';

export const GENERATED_API_FILE = fileURLToPath(new URL('../src/generated/api.d.ts', import.meta.url));

/** The server's OpenAPI document, from an app built in a throw-away data directory. */
export async function fetchOpenApiDocument(): Promise<Record<string, unknown>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-openapi-'));
  try {
    const config = loadConfig({ SEALPOST_DATA_DIR: dataDir, SEALPOST_WORKER: 'false', SEALPOST_LOG_LEVEL: 'silent' });
    const app = await buildApp(config, { logger: pino({ level: 'silent' }), https: null });
    try {
      const res = await app.server.inject({ method: 'GET', url: '/openapi.json' });
      if (res.statusCode !== 200) throw new Error(`/openapi.json answered ${res.statusCode}`);
      return res.json() as Record<string, unknown>;
    } finally {
      await app.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Drops query parameters whose `schema` is not a schema object. A route whose querystring schema
 * is a bare `{ type: 'object', additionalProperties }` (no `properties`) comes out of the swagger
 * plugin as parameters named `type` and `additionalProperties` with schemas `"object"` and `{}`:
 * they are not real parameters, and openapi-typescript refuses the string schema.
 */
function dropMalformedParameters(doc: Record<string, unknown>): void {
  const paths = (doc.paths ?? {}) as Record<string, Record<string, { parameters?: { schema?: unknown }[] }>>;
  for (const item of Object.values(paths))
    for (const op of Object.values(item))
      if (op && Array.isArray(op.parameters))
        op.parameters = op.parameters.filter((p) => typeof p.schema === 'object' && p.schema !== null);
}

/** The text of api.d.ts for the current server. */
export async function generateApiTypes(): Promise<string> {
  const doc = await fetchOpenApiDocument();
  dropMalformedParameters(doc);
  const ast = await openapiTS(doc as unknown as Parameters<typeof openapiTS>[0], { alphabetize: true });
  return COMMENT_HEADER + astToString(ast);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  writeFileSync(GENERATED_API_FILE, await generateApiTypes());
  console.log(`${GENERATED_API_FILE} regenerated`);
}
