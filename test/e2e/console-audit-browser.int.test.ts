import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import {
  consoleUser,
  DESKTOP,
  expectAccessible,
  expectNoLeak,
  newConsolePage,
  PHONE,
  shoot,
  signInWithTotp,
  startConsole,
  type ConsoleRig,
} from '../helpers/console-browser.js';
import { BROWSER_BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { eventually, samplePatient } from '../helpers/sealpost-harness.js';

/**
 * The audit screen in Debian Chromium, on each backend: search and export, an entry whose
 * inclusion proof the browser checks against the signed checkpoint (Web Crypto SHA-256 and
 * Ed25519), the checkpoints with their signatures and consistency, the accounting of disclosures
 * of a patient typed in a field, and an auditor who can read all of it and change nothing.
 */
for (const backend of BROWSER_BACKENDS)
  describe(`the audit screen in a real browser (${backend})`, () => {
    let rig: ConsoleRig;
    let db: TestDatabase;
    const tag = randomBytes(4).toString('hex');
    const patientId = `zyx-phi-pid-${tag}`;
    const family = `Zyx-PHI-${tag}`;
    const markers = [patientId, family];
    const api = (method: string, path: string, body?: unknown) => rig.h.request(method, path, body);

    beforeAll(async () => {
      db = await createTestDatabase(backend, 'sealpost-console-audit-');
      // Checkpoints only when a test (or a person) asks: the tests decide what a checkpoint covers.
      rig = await startConsole({
        ...db.env,
        SEALPOST_AUDIT_CHECKPOINT_SECONDS: '86400',
        SEALPOST_AUDIT_CHECKPOINT_ENTRIES: '10000000',
      });
      expect(
        (await api('PUT', `/v1/patients/${patientId}`, samplePatient({ name: { family, given: ['Ana'] } }))).status,
      ).toBe(201);
      // Three reads of the record: three disclosures (patient.read) in the patient's accounting.
      for (let i = 0; i < 3; i++) expect((await api('GET', `/v1/patients/${patientId}`)).status).toBe(200);
      expect((await api('POST', '/v1/audit/checkpoints')).status).toBe(201);
    }, 180_000);
    afterAll(async () => {
      await rig?.close();
      await db?.drop();
    });

    const search = async (page: Page, action: string) => {
      await page.fill('#audit-action', action);
      await page.fill('#audit-from', '');
      await page.getByRole('button', { name: 'Search', exact: true }).click();
    };

    it('lets an auditor search, open an entry and see its inclusion proof verified in the browser, and export the result', async () => {
      const auditor = await consoleUser(rig.h, ['auditor']);
      const { context, page, watch } = await newConsolePage(rig.browser, DESKTOP);
      await signInWithTotp(page, rig.base, auditor, '/console/audit');
      await page.waitForURL(/\/console\/audit\/search$/);
      await expectAccessible(page, 'audit search (empty)');
      await search(page, 'patient.*');
      const rows = page.locator('table.sp-table tbody tr');
      await rows.first().waitFor();
      const expected = (await api('GET', '/v1/audit/events?action=patient.*&limit=100')).body.items;
      expect(expected.length).toBeGreaterThanOrEqual(4);
      expect(await rows.count()).toBe(expected.length);
      await expectAccessible(page, 'audit search results');
      await shoot(page, 'console-audit');

      // Export: the same entries as the API, as JSON and as CSV (one line per entry plus the header).
      const [json] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Download JSON' }).click(),
      ]);
      expect(json.suggestedFilename()).toMatch(/^sealpost-audit-\d{4}-\d{2}-\d{2}\.json$/);
      const exported = JSON.parse(readFileSync((await json.path())!, 'utf8'));
      expect(exported.items.map((e: { index: number }) => e.index)).toEqual(
        expected.map((e: { index: number }) => e.index),
      );
      const [csv] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Download CSV' }).click(),
      ]);
      const lines = readFileSync((await csv.path())!, 'utf8')
        .trim()
        .split('\r\n');
      expect(lines[0]).toMatch(/^index,at,actor,action,outcome/);
      expect(lines).toHaveLength(expected.length + 1);
      for (const m of markers) expect(JSON.stringify(exported) + lines.join('\n')).not.toContain(m);

      // One entry (a read of the patient): leaf hash, signature and inclusion all verified here.
      const read = expected.find((e: { action: string }) => e.action === 'patient.read');
      await page.getByRole('link', { name: `Open entry ${read.index} and its proof` }).click();
      await page.waitForURL(new RegExp(`/console/audit/entries/${read.index}$`));
      const steps = page.getByTestId('audit-proof-steps');
      await page.getByTestId('audit-inclusion').waitFor();
      expect(
        await steps.locator('[data-verdict]').evaluateAll((n) => n.map((x) => x.getAttribute('data-verdict'))),
      ).toEqual(['ok', 'ok', 'ok']);
      expect(await page.getByTestId('audit-entry-json').textContent()).toContain('"action":"patient.read"');
      // An auditor holds no audit.checkpoint: no button, and the server refuses anyway.
      expect(await page.getByRole('button', { name: 'Sign a checkpoint now' }).count()).toBe(0);
      await expectAccessible(page, 'audit entry');

      // Bad input: the API's own error, nothing else.
      await page.goto(`${rig.base}/console/audit/search`);
      await page.fill('#audit-action', 'Not An Action!');
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      const problem = page.locator('.sp-problem');
      await problem.waitFor();
      const direct = await api('GET', `/v1/audit/events?action=${encodeURIComponent('Not An Action!')}`);
      expect(direct.status).toBe(400);
      expect(await problem.getAttribute('data-code')).toBe(direct.body.code);

      // Searching by the patient's id: the id stays in the page, never in the address bar.
      await page.fill('#audit-patient', patientId);
      await search(page, 'patient.read');
      await rows.first().waitFor();
      expect(await rows.count()).toBe(3);
      const refused = await page.evaluate(
        async () => (await fetch('/v1/audit/checkpoints', { method: 'POST' })).status,
      );
      expect(refused).toBe(403);
      await expectNoLeak(page, watch, markers);
      await context.close();
    });

    it('shows the checkpoints with their signatures and consistency verified, and lets only holders of audit.checkpoint sign one', async () => {
      for (let i = 0; i < 2; i++) {
        await api('GET', `/v1/patients/${patientId}`);
        expect((await api('POST', '/v1/audit/checkpoints')).status).toBe(201);
      }
      const auditor = await consoleUser(rig.h, ['auditor']);
      const { context, page, watch } = await newConsolePage(rig.browser, DESKTOP);
      await signInWithTotp(page, rig.base, auditor, '/console/audit/checkpoints');
      const sizes = page.getByTestId('checkpoint-size');
      await sizes.first().waitFor();
      const listed = (await api('GET', '/v1/audit/checkpoints?limit=500')).body.items as { size: number }[];
      expect(await sizes.allTextContents()).toEqual(
        listed
          .map((c) => String(c.size))
          .reverse()
          .slice(0, 20),
      );
      const verdicts = async (id: string) =>
        page.getByTestId(id).evaluateAll((n) => n.map((x) => x.getAttribute('data-verdict')));
      expect(new Set(await verdicts('checkpoint-signature'))).toEqual(new Set(['ok']));
      const consistency = await verdicts('checkpoint-consistency');
      expect(consistency.slice(0, -1).every((v) => v === 'ok')).toBe(true);
      expect(await page.getByRole('button', { name: 'Sign a checkpoint now' }).count()).toBe(0);
      await expectAccessible(page, 'audit checkpoints');
      await expectNoLeak(page, watch, markers);
      await context.close();

      // An administrator: a fresh entry no checkpoint covers yet, signed from the entry's page.
      const admin = await consoleUser(rig.h, ['admin']);
      const second = await newConsolePage(rig.browser, DESKTOP);
      await api('GET', `/v1/patients/${patientId}`);
      const newest = (await api('GET', '/v1/audit/events?action=patient.read&limit=100')).body.items.at(-1);
      await signInWithTotp(second.page, rig.base, admin, `/console/audit/entries/${newest.index}`);
      const inclusion = second.page.getByTestId('audit-inclusion');
      await inclusion.waitFor();
      expect(await inclusion.getAttribute('data-verdict')).toBe('unchecked');
      const before = (await api('GET', '/v1/audit/checkpoint')).text.split('\n')[1];
      // On PostgreSQL an entry is numbered once no overlapping transaction can still commit before
      // it: a checkpoint signed a moment too early does not cover it yet, and the page says so.
      const sign = second.page.getByRole('button', { name: 'Sign a checkpoint now' });
      await eventually(async () => {
        if ((await inclusion.getAttribute('data-verdict')) === 'ok') return true;
        if (await sign.isVisible()) await sign.click();
        await second.page.waitForTimeout(250);
        return false;
      }, 'the entry covered by a checkpoint signed from the console');
      const after = (await api('GET', '/v1/audit/checkpoint')).text.split('\n')[1];
      expect(Number(after)).toBeGreaterThan(Number(before));
      await second.context.close();
    });

    it('gives the accounting of disclosures of a patient typed in a field, never in the address bar', async () => {
      const auditor = await consoleUser(rig.h, ['auditor']);
      const { context, page, watch } = await newConsolePage(rig.browser, PHONE);
      await signInWithTotp(page, rig.base, auditor, '/console/audit/disclosures');
      await page.fill('#disclosure-patient', 'not a valid id!');
      await page.getByRole('button', { name: 'Show disclosures' }).click();
      await page.locator('.sp-problem').waitFor();
      const direct = await api('GET', `/v1/patients/${encodeURIComponent('not a valid id!')}/disclosures`);
      expect(await page.locator('.sp-problem').getAttribute('data-code')).toBe(direct.body.code);
      await page.fill('#disclosure-patient', patientId);
      await page.getByRole('button', { name: 'Show disclosures' }).click();
      await page.getByTestId('disclosure-period').waitFor();
      const accounting = (await api('GET', `/v1/patients/${patientId}/disclosures`)).body;
      expect(accounting.items.length).toBeGreaterThanOrEqual(3);
      expect(await page.locator('table.sp-table tbody tr').count()).toBe(accounting.items.length);
      expect(await page.textContent('main')).toContain(accounting.patientRef);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
      await expectAccessible(page, 'audit disclosures (phone)');
      await shoot(page, 'console-audit-phone');
      await expectNoLeak(page, watch, markers);
      await context.close();
    });

    it('keeps the screen from people without audit permissions', async () => {
      const receptionist = await consoleUser(rig.h, ['receptionist']);
      const { context, page } = await newConsolePage(rig.browser, DESKTOP);
      await signInWithTotp(page, rig.base, receptionist);
      expect(await page.getByRole('link', { name: 'Audit', exact: true }).count()).toBe(0);
      await page.goto(`${rig.base}/console/audit/search`);
      await page.getByRole('heading', { name: 'There is no such page' }).waitFor();
      expect(await page.evaluate(async () => (await fetch('/v1/audit/events')).status)).toBe(403);
      await context.close();
    });

    it('shows a checkpoint whose stored note was altered as failing verification', async () => {
      const listed = (await api('GET', '/v1/audit/checkpoints?limit=500')).body.items as {
        size: number;
        note: string;
      }[];
      const victim = listed.at(-2)!;
      const lines = victim.note.split('\n');
      // Same shape, another signature: the last byte of the signature flipped.
      const sig = lines.at(-2)!;
      const raw = Buffer.from(sig.slice(sig.lastIndexOf(' ') + 1), 'base64');
      raw[raw.length - 1] ^= 1;
      lines[lines.length - 2] = `${sig.slice(0, sig.lastIndexOf(' ') + 1)}${raw.toString('base64')}`;
      const p = backend === 'sqlite' ? ['?', '?'] : ['$1', '$2'];
      await db.query(`update audit_checkpoints set note = ${p[0]} where size = ${p[1]}`, [
        lines.join('\n'),
        victim.size,
      ]);
      const auditor = await consoleUser(rig.h, ['auditor']);
      const { context, page } = await newConsolePage(rig.browser, DESKTOP);
      await signInWithTotp(page, rig.base, auditor, '/console/audit/checkpoints');
      await page.getByTestId('checkpoint-size').first().waitFor();
      const sizes = await page.getByTestId('checkpoint-size').allTextContents();
      const verdicts = await page
        .getByTestId('checkpoint-signature')
        .evaluateAll((n) => n.map((x) => x.getAttribute('data-verdict')));
      expect(verdicts[sizes.indexOf(String(victim.size))]).toBe('failed');
      expect(verdicts.filter((v) => v === 'failed')).toHaveLength(1);
      await context.close();
    });
  });
