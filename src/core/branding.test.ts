import { describe, expect, it } from 'vitest';
import {
  accentInk,
  checkAccent,
  checkLogo,
  checkOrganisationName,
  contrastColor,
  contrastRatio,
  sniffImage,
} from './branding.js';

describe('branding rules', () => {
  it('computes WCAG contrast ratios (black on white is 21:1, a colour on itself 1:1)', () => {
    expect(contrastRatio('#000000', '#ffffff')).toBeCloseTo(21, 5);
    expect(contrastRatio('#0b5cad', '#0b5cad')).toBe(1);
    expect(contrastRatio('#767676', '#ffffff')).toBeGreaterThanOrEqual(4.5); // the classic AA grey
  });

  it('gives a dark accent white text and a light accent near-black text, and refuses mid-tones neither reads on', () => {
    expect(contrastColor('#0b5cad')).toBe('#ffffff');
    expect(contrastColor('#ffd54f')).toBe('#1b1b1f');
    expect(contrastColor('#808080')).toBeNull();
    expect(() => checkAccent('#808080')).toThrow(expect.objectContaining({ code: 'SP_BRANDING_CONTRAST_LOW' }));
  });

  it('keeps a pale accent out of text on white (links fall back to the text colour)', () => {
    expect(accentInk('#0b5cad')).toBe('#0b5cad');
    expect(accentInk('#ffd54f')).toBe('#1b1b1f');
  });

  it('accepts #rrggbb only, normalised to lower case', () => {
    expect(checkAccent('#0F6E6E')).toBe('#0f6e6e');
    for (const bad of ['red', '#fff', '#12345g', '0f6e6e', '#0f6e6e;}body{', 'rgb(0,0,0)'])
      expect(() => checkAccent(bad)).toThrow(expect.objectContaining({ code: 'SP_BRANDING_COLOR_INVALID' }));
  });

  it('trims names and refuses empty, overlong or control-character names', () => {
    expect(checkOrganisationName('  Riverside Clinic ')).toBe('Riverside Clinic');
    for (const bad of ['', '   ', 'x'.repeat(101), 'A\nB', 'A\u0000B'])
      expect(() => checkOrganisationName(bad)).toThrow(expect.objectContaining({ code: 'SP_BRANDING_NAME_INVALID' }));
  });

  it('tells PNG, JPEG and WebP by their bytes and refuses SVG, GIF and a type that does not match', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0]);
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0]);
    const webp = Buffer.from('RIFF\0\0\0\0WEBPVP8 ', 'latin1');
    expect([sniffImage(png), sniffImage(jpeg), sniffImage(webp)]).toEqual(['image/png', 'image/jpeg', 'image/webp']);
    expect(sniffImage(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeNull();
    expect(sniffImage(Buffer.from('GIF89a'))).toBeNull();
    expect(() => checkLogo('image/jpeg', png)).toThrow(expect.objectContaining({ code: 'SP_BRANDING_LOGO_INVALID' }));
    expect(() => checkLogo('image/png', Buffer.concat([png, Buffer.alloc(256 * 1024)]))).toThrow(
      expect.objectContaining({ code: 'SP_BRANDING_LOGO_TOO_LARGE' }),
    );
    expect(checkLogo('image/png', png)).toBe('image/png');
  });
});
