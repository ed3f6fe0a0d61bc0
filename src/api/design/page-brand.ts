import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Branding } from '../../core/branding-service.js';
import type { Language } from '../../core/domain.js';

/** The shared style sheet, read once; its hash versions its URL (`/assets/sealpost.css?v=…`). */
export const SEALPOST_CSS = readFileSync(new URL('./sealpost.css', import.meta.url), 'utf8');
export const SEALPOST_CSS_ETAG = `"${createHash('sha256').update(SEALPOST_CSS).digest('base64url').slice(0, 22)}"`;
export const SEALPOST_CSS_VERSION = SEALPOST_CSS_ETAG.slice(1, 13);

/**
 * The CSP directives a branded page adds to its own: the shared and brand style sheets and the
 * logo, all from this origin (no inline style, no other host).
 */
export const BRANDED_PAGE_CSP = ["style-src 'self'", "img-src 'self'"];

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** What a page needs to show its organisation: the tenant's branding and the tenant id for the asset URLs. */
export interface PageBrand {
  tenantId: string;
  branding: Branding;
}

/**
 * The `<link>`s of the shared sheet and the tenant's accent for the document head. The accent is
 * asked for by value (`/brand.css?accent=rrggbb`), so the URL names no tenant and the answer is the
 * same for every tenant of that colour.
 */
export function brandLinks(p: PageBrand): string {
  return `<link rel="stylesheet" href="/assets/sealpost.css?v=${SEALPOST_CSS_VERSION}"><link rel="stylesheet" href="/brand.css?accent=${p.branding.accentColor.slice(1)}">`;
}

const T = {
  en: { language: 'Language' },
  es: { language: 'Idioma' },
} as const;

/**
 * The top bar of every page: the organisation's logo and name, server-rendered (it shows without
 * JavaScript), and, where the page speaks both languages, links to switch (`?lang=`).
 */
export function brandHeader(p: PageBrand, o: { lang?: Language; switchTo?: (lang: Language) => string } = {}): string {
  const name = escapeHtml(p.branding.organisationName);
  // The name is beside the logo, so the image is decorative (alt="") and screen readers hear the name once.
  // The logo by tenant and hash together: the pair is the proof a page was rendered for that tenant.
  const logo = p.branding.logoHash
    ? `<img class="sp-brand-logo" id="brand-logo" src="/brand/logo?tenant=${encodeURIComponent(p.tenantId)}&amp;h=${p.branding.logoHash}" alt="">`
    : '';
  const sw =
    o.lang && o.switchTo
      ? `<nav class="sp-lang" aria-label="${T[o.lang].language}">${(['en', 'es'] as const)
          .map((l) =>
            l === o.lang
              ? `<a id="lang-${l}" href="${escapeHtml(o.switchTo!(l))}" lang="${l}" hreflang="${l}" aria-current="true">${l === 'en' ? 'English' : 'Español'}</a>`
              : `<a id="lang-${l}" href="${escapeHtml(o.switchTo!(l))}" lang="${l}" hreflang="${l}">${l === 'en' ? 'English' : 'Español'}</a>`,
          )
          .join('')}</nav>`
      : '';
  return `<header class="sp-brand"><div class="sp-brand-id">${logo}<span class="sp-brand-name" id="brand-name">${name}</span></div>${sw}</header>`;
}
