import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATED_API_FILE, generateApiTypes } from '../scripts/generate-api.js';

describe('the generated REST API types', () => {
  it('are the types of the current /openapi.json (run node bin/run-ts.js sdk/scripts/generate-api.ts when this fails)', async () => {
    const fresh = await generateApiTypes();
    expect(fresh).toContain('"/v1/notifications"');
    expect(readFileSync(GENERATED_API_FILE, 'utf8') === fresh, 'sdk/src/generated/api.d.ts is stale').toBe(true);
  });
});
