/**
 * The page a portal link of an erased patient shows. It is the same for every such link and says
 * nothing about the patient or the message (the language of the patient is gone with the patient,
 * so it is bilingual like the rest of the portal's strings).
 */
export function goneLinkPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>Secure message</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b}</style></head>
<body><main><h1>Secure message</h1>
<p id="gone">This message is no longer available. Please contact your care team.</p>
<p lang="es">Este mensaje ya no está disponible. Comuníquese con su equipo de atención.</p>
</main></body></html>`;
}
