// Regenerates the command reference of docs/cli.md (the help of every command) from src/cli/.
import { readFileSync, writeFileSync } from 'node:fs';
import { withCliReference } from '../src/cli/cli-doc.js';

const file = new URL('../docs/cli.md', import.meta.url);
writeFileSync(file, withCliReference(readFileSync(file, 'utf8')));
console.log('docs/cli.md: command reference regenerated');
