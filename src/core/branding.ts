import { AppError } from './errors.js';

/** The colour the pages use when a tenant set none (sealpost.css's --sp-accent). */
export const DEFAULT_ACCENT = '#0b5cad';
/** The pages' text colour (sealpost.css's --sp-text): the dark choice for text on a light accent. */
export const NEAR_BLACK = '#1b1b1f';
export const WHITE = '#ffffff';
/** WCAG 2.2 SC 1.4.3 (AA): normal-size text needs a contrast ratio of at least 4.5:1. */
export const MIN_CONTRAST = 4.5;
export const MAX_LOGO_BYTES = 256 * 1024;
export const MAX_NAME_LENGTH = 100;

const HEX = /^#[0-9a-f]{6}$/;

/** WCAG 2.x relative luminance of an sRGB `#rrggbb` colour. */
export function luminance(hex: string): number {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
  const [r, g, b] = c.map((v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG 2.x contrast ratio (1 to 21) of two `#rrggbb` colours. */
export function contrastRatio(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

/**
 * The text colour an accent carries (button labels on it): white or the pages' near-black,
 * whichever contrasts more; null when neither reaches 4.5:1 (such an accent is refused).
 */
export function contrastColor(accent: string): string | null {
  const w = contrastRatio(accent, WHITE);
  const k = contrastRatio(accent, NEAR_BLACK);
  const best = w >= k ? WHITE : NEAR_BLACK;
  return Math.max(w, k) >= MIN_CONTRAST ? best : null;
}

/**
 * The accent as a text colour on the pages' light surfaces (links, focus rings): the accent itself
 * when it is readable on white, else the near-black text colour (a pale accent is for fills only).
 */
export function accentInk(accent: string): string {
  return contrastRatio(accent, WHITE) >= MIN_CONTRAST ? accent : NEAR_BLACK;
}

/** `#rrggbb` (any case) → lower case; SP_BRANDING_COLOR_INVALID or SP_BRANDING_CONTRAST_LOW otherwise. */
export function checkAccent(value: string): string {
  const v = value.trim().toLowerCase();
  if (!HEX.test(v)) throw new AppError('SP_BRANDING_COLOR_INVALID', 'accentColor: expected #rrggbb');
  if (!contrastColor(v)) {
    const best = Math.max(contrastRatio(v, WHITE), contrastRatio(v, NEAR_BLACK));
    throw new AppError(
      'SP_BRANDING_CONTRAST_LOW',
      `accentColor: neither white nor ${NEAR_BLACK} text reaches ${MIN_CONTRAST}:1 on it (best ${best.toFixed(2)}:1)`,
    );
  }
  return v;
}

/** A display name: trimmed, 1–100 characters, no control characters, no markup-only text. */
export function checkOrganisationName(value: string): string {
  const v = value.normalize('NFC').trim();
  // eslint-disable-next-line no-control-regex
  if (v.length === 0 || [...v].length > MAX_NAME_LENGTH || /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(v))
    throw new AppError(
      'SP_BRANDING_NAME_INVALID',
      `organisationName: 1 to ${MAX_NAME_LENGTH} characters, no control characters`,
    );
  return v;
}

export type LogoType = 'image/png' | 'image/jpeg' | 'image/webp';
export const LOGO_TYPES: readonly LogoType[] = ['image/png', 'image/jpeg', 'image/webp'];

/** The raster type the bytes are, by their magic numbers; null for anything else (SVG, HTML, GIF…). */
export function sniffImage(b: Uint8Array): LogoType | null {
  const at = (i: number, bytes: number[]) => bytes.every((x, j) => b[i + j] === x);
  if (b.length >= 8 && at(0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (b.length >= 3 && at(0, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (b.length >= 12 && at(0, [0x52, 0x49, 0x46, 0x46]) && at(8, [0x57, 0x45, 0x42, 0x50])) return 'image/webp';
  return null;
}

/**
 * A logo upload: at most 256 KB and a PNG, JPEG or WebP by its bytes, matching the declared type
 * (never SVG: an image that can carry script is not served from this origin).
 */
export function checkLogo(declared: string | undefined, b: Uint8Array): LogoType {
  if (b.length > MAX_LOGO_BYTES) throw new AppError('SP_BRANDING_LOGO_TOO_LARGE');
  const kind = sniffImage(b);
  if (!kind) throw new AppError('SP_BRANDING_LOGO_INVALID', 'the logo is not a PNG, JPEG or WebP image');
  if (declared !== undefined && declared !== kind)
    throw new AppError('SP_BRANDING_LOGO_INVALID', `the body is ${kind}, not ${declared}`);
  return kind;
}
