import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

/**
 * The console is served by Sealpost under /console (src/api/routes/console-routes.ts) from `dist/`,
 * or from SEALPOST_CONSOLE_OUT when set (a build of one's own beside a running server's).
 * The SDK's typed REST client is compiled from its sources, as the server runs from its own.
 */
export default defineConfig({
  base: '/console/',
  plugins: [react()],
  resolve: {
    alias: {
      '@sealpost/sdk/rest': fileURLToPath(new URL('../sdk/src/rest-client.ts', import.meta.url)),
      '@sealpost/sdk/browser': fileURLToPath(new URL('../sdk/src/browser.ts', import.meta.url)),
      '@design': fileURLToPath(new URL('../src/api/design', import.meta.url)),
    },
  },
  build: {
    outDir: process.env.SEALPOST_CONSOLE_OUT ?? 'dist',
    emptyOutDir: true,
    // No inline script or style: the server's policy allows none (script-src/style-src 'self').
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 2000,
  },
});
