/**
 * The kiosk demo's build: `vite build -c demo/kiosk/vite.config.ts` writes dist/demo/kiosk/ (relative URLs, so it
 * can be served from any path); `vite -c demo/kiosk/vite.config.ts` serves it for development. Either way the page
 * fetches ./config.json from where it is served (see demo/kiosk/README.md).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: './',
  clearScreen: false,
  // config.json is the deployment's, never the bundle's: nothing is copied from a public/ directory.
  publicDir: false,
  build: {
    outDir: fileURLToPath(new URL('../../dist/demo/kiosk/', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
    // sql.js's wasm and MQTT.js are large on purpose.
    chunkSizeWarningLimit: 2_000,
  },
  worker: { format: 'es' },
});
