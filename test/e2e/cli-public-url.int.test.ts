import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { cli } from '../helpers/sealpost-cli.js';

const invite = (env: Record<string, string>, who: string) =>
  cli(env, ['users', 'invite', '--email', `${who}@clinic.example`, '--name', who, '--roles', 'admin']);

describe('links the CLI prints point where the server answers', () => {
  let h: Harness;
  beforeAll(async () => {
    // The server listens on a port of its own (not 8443) and records its public URL at start.
    h = await startSealpost();
  }, 60_000);
  afterAll(async () => h?.close(), 60_000);

  it('uses the public URL the server recorded, not the CLI default https://localhost:8443', async () => {
    const r = await invite({ SEALPOST_DATA_DIR: h.dataDir }, 'first');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(new RegExp(`^${h.url.replace(/\./g, '\\.')}/enrol#[A-Za-z0-9_-]{43}$`));
    expect(r.stderr).not.toContain('warning');
  }, 60_000);

  it('lets an explicit, different SEALPOST_PUBLIC_URL win, with a warning naming both', async () => {
    const r = await invite({ SEALPOST_DATA_DIR: h.dataDir, SEALPOST_PUBLIC_URL: 'https://sealpost.example' }, 'second');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^https:\/\/sealpost\.example\/enrol#/);
    expect(r.stderr).toContain(
      `warning: SEALPOST_PUBLIC_URL (https://sealpost.example) differs from the URL the server recorded at its last start (${h.url})`,
    );
  }, 60_000);
});
