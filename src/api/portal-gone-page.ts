import { brandHeader, brandLinks, type PageBrand } from './design/page-brand.js';

/**
 * The page a portal link of an erased patient shows. It is the same for every such link and says
 * nothing about the patient or the message (the language of the patient is gone with the patient,
 * so it is bilingual like the rest of the portal's strings).
 */
export function goneLinkPage(brand: PageBrand): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>Secure message</title>${brandLinks(brand)}</head>
<body class="sp-page">${brandHeader(brand)}<main><h1>Secure message</h1>
<p id="gone">This message is no longer available. Please contact your care team.</p>
<p lang="es">Este mensaje ya no está disponible. Comuníquese con su equipo de atención.</p>
</main></body></html>`;
}
