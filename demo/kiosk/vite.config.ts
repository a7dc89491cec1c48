/**
 * The kiosk demo's build: `vite build -c demo/kiosk/vite.config.ts` writes dist/demo/kiosk/ (relative URLs, so it
 * can be served from any path): the panel (index.html) and its service page (service.html); `vite -c
 * demo/kiosk/vite.config.ts` serves them for development. Either way the pages fetch ./config.json from where they
 * are served (see demo/kiosk/README.md). What both pages show alike is written once, in partials/.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

/** `<!-- partial: x.html -->` in a page is replaced by partials/x.html (in the build and on the dev server). */
function partials(): Plugin {
  return {
    name: 'kiosk-partials',
    transformIndexHtml: {
      order: 'pre',
      handler: (html) =>
        html.replace(/<!-- partial: ([\w-]+\.html) -->/g, (_, name: string) =>
          readFileSync(new URL(`./partials/${name}`, import.meta.url), 'utf8'),
        ),
    },
  };
}

export default defineConfig({
  root: here,
  base: './',
  clearScreen: false,
  plugins: [partials()],
  // config.json is the deployment's, never the bundle's: nothing is copied from a public/ directory.
  publicDir: false,
  build: {
    outDir: fileURLToPath(new URL('../../dist/demo/kiosk/', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
    // sql.js's wasm and MQTT.js are large on purpose.
    chunkSizeWarningLimit: 2_000,
    rolldownOptions: {
      input: {
        index: fileURLToPath(new URL('./index.html', import.meta.url)),
        service: fileURLToPath(new URL('./service.html', import.meta.url)),
      },
    },
  },
  worker: { format: 'es' },
});
