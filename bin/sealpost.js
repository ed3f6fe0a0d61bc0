#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx's loader, so `npm install` needs no build step.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../src/cli/main.ts');
await run(process.argv);
