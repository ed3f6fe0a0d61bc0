import { createHash } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { httpsJson, page, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { createTestDatabase, describeEachBackend, type TestDatabase } from '../helpers/backends.js';
import { logoPng } from '../helpers/tiny-png.js';

/** A raw-bytes request (the logo upload), over the harness's TLS. */
function bytes(
  h: Harness,
  method: string,
  path: string,
  body: Buffer | undefined,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL(path, h.url), { method, headers, ca: h.cert }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

describeEachBackend('tenant branding: organisation name, accent colour and logo', (backend) => {
  let h: Harness;
  let db: TestDatabase;
  let admin: TestPerson;
  let physician: TestPerson;
  const as = (p: TestPerson | null, method: string, path: string, body?: unknown) =>
    httpsJson(h.url, h.cert, method, path, body, { authorization: p ? p.headers.authorization : '' });
  const upload = (p: TestPerson, type: string, body: Buffer) =>
    bytes(h, 'PUT', '/v1/branding/logo', body, { authorization: p.headers.authorization, 'content-type': type });
  const brandingEvents = async () =>
    ((await h.request('GET', '/v1/audit/events?limit=500')).body.items as { action: string }[]).filter((e) =>
      e.action.startsWith('branding.'),
    );
  /** Everything a bad request could have changed. */
  const state = async () => ({
    branding: (await as(null, 'GET', '/v1/branding')).body,
    css: (await page(h, '/brand.css')).text,
    logo: await bytes(h, 'GET', '/brand/logo', undefined, {}).then((r) =>
      r.status === 200 ? r.body.toString('base64') : r.status,
    ),
    audit: (await brandingEvents()).length,
  });

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    h = await startSealpost({ ...db.env, SEALPOST_ORGANISATION_NAME: 'Riverside Clinic' });
    admin = await staffWithSession(h, ['admin']);
    physician = await staffWithSession(h, ['physician']);
  }, 120_000);

  afterAll(async () => {
    await h?.close();
    await db?.drop();
  }, 120_000);

  it('shows the installation name and the default colour before anything is set, to anyone', async () => {
    const r = await as(null, 'GET', '/v1/branding');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      organisationName: 'Riverside Clinic',
      accentColor: '#0b5cad',
      accentContrast: '#ffffff',
      hasLogo: false,
    });
    const css = await page(h, '/brand.css');
    expect(css.status).toBe(200);
    expect(css.headers['content-type']).toMatch(/^text\/css/);
    expect(css.text).toContain('--sp-accent:#0b5cad;--sp-accent-contrast:#ffffff');
    const logo = await page(h, '/brand/logo');
    expect([logo.status, logo.body.code]).toEqual([404, 'SP_BRANDING_LOGO_NOT_FOUND']);
  });

  it('lets an administrator set the name and accent, audited with the fields changed and not their values', async () => {
    const r = await as(admin, 'PUT', '/v1/branding', { organisationName: '  Harbour Health ', accentColor: '#FFD54F' });
    expect(r.status).toBe(200);
    // A light accent carries near-black text; links fall back to the text colour.
    expect(r.body).toEqual({
      organisationName: 'Harbour Health',
      accentColor: '#ffd54f',
      accentContrast: '#1b1b1f',
      hasLogo: false,
    });
    expect((await as(null, 'GET', '/v1/branding')).body.organisationName).toBe('Harbour Health');
    expect((await page(h, '/brand.css')).text).toContain(
      '--sp-accent:#ffd54f;--sp-accent-contrast:#1b1b1f;--sp-accent-ink:#1b1b1f',
    );
    const events = await h.request('GET', '/v1/audit/events?action=branding.updated&limit=10');
    const e = events.body.items.at(-1);
    expect(e).toMatchObject({ actor: `user:${admin.userId}`, target: { type: 'tenant', id: 'default' } });
    expect(e.details).toEqual({ fields: ['organisationName', 'accentColor'] });
    expect(JSON.stringify(events.body)).not.toContain('Harbour');
    // Only the fields sent change; null returns a field to its default.
    await as(admin, 'PUT', '/v1/branding', { accentColor: '#0F6E6E' });
    expect((await as(null, 'GET', '/v1/branding')).body).toMatchObject({
      organisationName: 'Harbour Health',
      accentColor: '#0f6e6e',
      accentContrast: '#ffffff',
    });
  });

  it('refuses bad names, colours and logos with a specific code and changes nothing', async () => {
    const before = await state();
    const cases: [unknown, number, string][] = [
      [{ organisationName: '' }, 400, 'SP_BRANDING_NAME_INVALID'],
      [{ organisationName: 'x'.repeat(101) }, 400, 'SP_BRANDING_NAME_INVALID'],
      [{ organisationName: 'Harbour\nHealth' }, 400, 'SP_BRANDING_NAME_INVALID'],
      [{ accentColor: 'red' }, 400, 'SP_BRANDING_COLOR_INVALID'],
      [{ accentColor: '#0f6e6e;}body{display:none' }, 400, 'SP_BRANDING_COLOR_INVALID'],
      [{ accentColor: '#808080' }, 400, 'SP_BRANDING_CONTRAST_LOW'],
      // A valid name beside a refused colour: neither is written.
      [{ organisationName: 'Other Name', accentColor: '#777777' }, 400, 'SP_BRANDING_CONTRAST_LOW'],
      [{ organisationName: 'Other Name', extra: 1 }, 400, 'SP_REQ_VALIDATION'],
    ];
    for (const [body, status, code] of cases) {
      const r = await as(admin, 'PUT', '/v1/branding', body);
      expect([JSON.stringify(body), r.status, r.body.code]).toEqual([JSON.stringify(body), status, code]);
    }
    const png = logoPng();
    const logos: [string, Buffer, number, string][] = [
      [
        'image/png',
        Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        400,
        'SP_BRANDING_LOGO_INVALID',
      ],
      ['image/png', Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'), 400, 'SP_BRANDING_LOGO_INVALID'],
      ['image/jpeg', png, 400, 'SP_BRANDING_LOGO_INVALID'],
      ['image/png', Buffer.concat([png, Buffer.alloc(256 * 1024)]), 413, 'SP_BRANDING_LOGO_TOO_LARGE'],
      ['image/svg+xml', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), 415, 'SP_REQ_UNSUPPORTED_MEDIA_TYPE'],
      ['text/html', Buffer.from('<p>hi</p>'), 415, 'SP_REQ_UNSUPPORTED_MEDIA_TYPE'],
    ];
    for (const [type, body, status, code] of logos) {
      const r = await upload(admin, type, body);
      expect([type, r.status, JSON.parse(r.body.toString()).code]).toEqual([type, status, code]);
    }
    expect(await state()).toEqual(before);
  });

  it('refuses changes to people without settings.manage and to callers without credentials', async () => {
    const before = await state();
    expect((await as(physician, 'PUT', '/v1/branding', { organisationName: 'Nope' })).status).toBe(403);
    expect((await as(null, 'PUT', '/v1/branding', { organisationName: 'Nope' })).status).toBe(401);
    expect((await upload(physician, 'image/png', logoPng())).status).toBe(403);
    expect((await as(physician, 'DELETE', '/v1/branding/logo')).status).toBe(403);
    expect(await state()).toEqual(before);
  });

  it('stores a PNG logo and serves it as an inert image; removing it is audited', async () => {
    const png = logoPng();
    const r = await upload(admin, 'image/png', png);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString()).hasLogo).toBe(true);
    const got = await bytes(h, 'GET', '/brand/logo', undefined, {});
    expect(got.status).toBe(200);
    expect(got.headers['content-type']).toBe('image/png');
    expect(got.headers['content-security-policy']).toMatch(/^default-src 'none'/);
    expect(got.headers['x-content-type-options']).toBe('nosniff');
    expect(got.body.equals(png)).toBe(true);
    // Revalidation: the same bytes answer 304 to their ETag.
    const again = await bytes(h, 'GET', '/brand/logo', undefined, { 'if-none-match': String(got.headers.etag) });
    expect(again.status).toBe(304);
    const set = (await h.request('GET', '/v1/audit/events?action=branding.logo_set&limit=10')).body.items.at(-1);
    expect(set.details).toMatchObject({ type: 'image/png', bytes: png.length });

    const del = await as(admin, 'DELETE', '/v1/branding/logo');
    expect([del.status, del.body.hasLogo]).toEqual([200, false]);
    expect((await page(h, '/brand/logo')).status).toBe(404);
    expect((await h.request('GET', '/v1/audit/events?action=branding.logo_removed&limit=10')).body.items).toHaveLength(
      1,
    );
  });

  it("keeps each tenant's branding to itself", async () => {
    const other = await staffWithSession(h, ['admin'], 'north');
    expect(
      (await as(other, 'PUT', '/v1/branding', { organisationName: 'North Hospital', accentColor: '#6a1b9a' })).status,
    ).toBe(200);
    expect((await as(other, 'GET', '/v1/branding')).body).toMatchObject({ organisationName: 'North Hospital' });
    expect((await as(null, 'GET', '/v1/branding')).body.organisationName).toBe('Harbour Health');
    expect((await as(admin, 'GET', '/v1/branding')).body.organisationName).toBe('Harbour Health');
    // A page rendered for the tenant asks for its accent by value.
    expect((await page(h, '/brand.css?accent=6a1b9a')).text).toContain(
      '--sp-accent:#6a1b9a;--sp-accent-contrast:#ffffff',
    );
  });

  it('tells an anonymous caller nothing about which tenants exist', async () => {
    const north = await staffWithSession(h, ['admin'], 'north');
    expect((await upload(north, 'image/png', logoPng())).status).toBe(200);
    const hash = createHash('sha256').update(logoPng()).digest('hex').slice(0, 32);
    const wrong = 'ab'.repeat(16);
    const answer = async (path: string) => {
      const r = await bytes(h, 'GET', path, undefined, {});
      const body = JSON.parse(r.body.toString() || 'null') as { code?: string; detail?: string } | null;
      return { status: r.status, code: body?.code, detail: body?.detail };
    };
    for (const q of [
      '/v1/branding?tenant=%s',
      '/brand.css?tenant=%s',
      '/brand.css?tenant=%s&v=1',
      '/brand/logo?tenant=%s',
      `/brand/logo?tenant=%s&h=${wrong}`,
      // The right hash under another name: the hash alone opens nothing.
      `/brand/logo?tenant=%s-x&h=${hash}`,
    ]) {
      const known = await answer(q.replace('%s', 'north'));
      const unknown = await answer(q.replace('%s', 'nowhere'));
      expect([q, known]).toEqual([q, unknown]);
      expect(known.status).toBeGreaterThanOrEqual(400);
    }
    // The pair a page rendered for the tenant carries opens its logo, cached for good (the URL names the bytes).
    const got = await bytes(h, 'GET', `/brand/logo?tenant=north&h=${hash}`, undefined, {});
    expect([got.status, got.headers['cache-control']]).toEqual([200, 'public, max-age=31536000, immutable']);
    expect(got.body.equals(logoPng())).toBe(true);
  });

  it('sends the cache headers of the answer with its 304 and caches for good only the current version', async () => {
    const first = await bytes(h, 'GET', '/brand.css', undefined, {});
    const etag = String(first.headers.etag);
    const version = etag.slice(1, -1);
    expect([first.status, first.headers['cache-control'], first.headers.vary]).toEqual([
      200,
      'private, no-cache',
      'cookie, authorization',
    ]);
    // The session-dependent sheet stays private on revalidation too.
    const again = await bytes(h, 'GET', '/brand.css', undefined, { 'if-none-match': etag });
    expect([again.status, again.headers['cache-control'], again.headers.vary]).toEqual([
      304,
      'private, no-cache',
      'cookie, authorization',
    ]);
    const stale = await bytes(h, 'GET', '/brand.css?v=not-the-version', undefined, { 'if-none-match': etag });
    expect([stale.status, stale.headers['cache-control']]).toEqual([304, 'private, no-cache']);
    const current = await bytes(h, 'GET', `/brand.css?v=${version}`, undefined, {});
    expect([current.status, current.headers['cache-control']]).toEqual([200, 'private, max-age=31536000, immutable']);
    // A colour's sheet is the same for everyone: public and cached for good.
    const byValue = await bytes(h, 'GET', '/brand.css?accent=0F6E6E', undefined, {});
    expect([byValue.status, byValue.headers['cache-control'], byValue.headers.vary]).toEqual([
      200,
      'public, max-age=31536000, immutable',
      undefined,
    ]);
    const unreadable = await page(h, '/brand.css?accent=808080');
    expect([unreadable.status, unreadable.body.code]).toEqual([400, 'SP_BRANDING_CONTRAST_LOW']);
    // The session's logo: private, revalidated unless ?v= is its hash.
    expect((await upload(admin, 'image/png', logoPng())).status).toBe(200);
    const logo = await bytes(h, 'GET', '/brand/logo?v=3', undefined, {});
    expect([logo.status, logo.headers['cache-control'], logo.headers.vary]).toEqual([
      200,
      'private, no-cache',
      'cookie, authorization',
    ]);
    const logo304 = await bytes(h, 'GET', '/brand/logo', undefined, { 'if-none-match': String(logo.headers.etag) });
    expect([logo304.status, logo304.headers['cache-control'], logo304.headers.vary]).toEqual([
      304,
      'private, no-cache',
      'cookie, authorization',
    ]);
    const sheet = await bytes(h, 'GET', '/assets/sealpost.css?v=bogus', undefined, {});
    expect(sheet.headers['cache-control']).toBe('public, no-cache');
  });

  it('serves the shared style sheet with an ETag and the pages link it with the organisation at the top', async () => {
    const css = await page(h, '/assets/sealpost.css');
    expect(css.status).toBe(200);
    expect(css.headers['content-type']).toMatch(/^text\/css/);
    expect(css.text).toContain('--sp-touch');
    expect(
      (await bytes(h, 'GET', '/assets/sealpost.css', undefined, { 'if-none-match': String(css.headers.etag) })).status,
    ).toBe(304);
    await upload(admin, 'image/png', logoPng());
    for (const path of ['/login', '/enrol', '/reset', '/portal/notifications', '/portal/inbox']) {
      const p = await page(h, path);
      expect([path, p.status]).toEqual([path, 200]);
      expect(p.text).toContain('<span class="sp-brand-name" id="brand-name">Harbour Health</span>');
      expect(p.text).toMatch(
        /<img class="sp-brand-logo" id="brand-logo" src="\/brand\/logo\?tenant=default&amp;h=[0-9a-f]{32}"/,
      );
      expect(p.text).toMatch(/<link rel="stylesheet" href="\/assets\/sealpost\.css\?v=/);
      expect(p.text).toContain('<link rel="stylesheet" href="/brand.css?accent=0f6e6e">');
      // The immutable links the page carries answer with the bytes they name.
      for (const [, url] of p.text.matchAll(/(?:src|href)="(\/(?:brand|assets)[^"]*)"/g)) {
        const r = await bytes(h, 'GET', url!.replace(/&amp;/g, '&'), undefined, {});
        expect([url, r.status, r.headers['cache-control']]).toEqual([url, 200, 'public, max-age=31536000, immutable']);
      }
      expect(p.text).not.toContain('<style');
      expect(p.text).not.toContain('style=');
      expect(String(p.headers['content-security-policy'])).toContain("style-src 'self'");
    }
  });
});
