/**
 * Placeholder syntax of Sealpost templates: `{{name}}`, where name is an identifier. Plain text only;
 * escaping for HTML or any other target is the caller's job.
 */

const PLACEHOLDER = /\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}/g;

/** Names of all placeholders in `text`, in order of appearance (with repeats). */
export function placeholdersOf(text: string): string[] {
  return Array.from(text.matchAll(PLACEHOLDER), (m) => m[1]);
}

/**
 * True if `text` has braces that are not part of a well-formed placeholder (`{{ name }`, `{{1x}}`):
 * such a template would otherwise leak its raw syntax into a message.
 */
export function hasMalformedPlaceholder(text: string): boolean {
  const rest = text.replace(PLACEHOLDER, '');
  return rest.includes('{{') || rest.includes('}}');
}

/**
 * Renders `text` line by line. A line that mentions a placeholder listed in `droppable` (an optional
 * variable the caller did not set) is removed as a whole, so "Where: {{location}}" disappears instead
 * of rendering as "Where: ". Substitution is a single pass: a value that itself contains `{{x}}` is
 * inserted literally and never expanded. Runs of blank lines left behind collapse to one.
 */
export function renderLines(text: string, values: ReadonlyMap<string, string>, droppable: ReadonlySet<string>): string {
  const kept: string[] = [];
  for (const line of text.split('\n')) {
    if (placeholdersOf(line).some((name) => droppable.has(name))) continue;
    kept.push(
      line.replace(PLACEHOLDER, (_whole, name: string) => {
        const v = values.get(name);
        // Load-time validation makes this unreachable; fail loudly rather than emit "{{x}}".
        if (v === undefined) throw new Error(`unbound placeholder ${name}`);
        return v;
      }),
    );
  }
  return kept
    .join('\n')
    .replace(/\n[ \t]*\n(?:[ \t]*\n)+/g, '\n\n')
    .trim();
}
