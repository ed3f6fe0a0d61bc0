// Regenerates the roles × permissions tables of docs/security.md from src/auth/permissions.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { withPermissionTables } from '../src/auth/permissions-doc.js';

const file = new URL('../docs/security.md', import.meta.url);
writeFileSync(file, withPermissionTables(readFileSync(file, 'utf8')));
console.log('docs/security.md: permission tables regenerated');
