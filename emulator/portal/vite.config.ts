/**
 * Builds the portal (this folder) into `dist/emulator/portal/`, which the emulator serves at `/portal`:
 * `vite build -c emulator/portal/vite.config.ts` (the last step of `npm run build`).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/portal/',
  publicDir: false,
  logLevel: 'warn',
  clearScreen: false,
  build: {
    outDir: fileURLToPath(new URL('../../dist/emulator/portal/', import.meta.url)),
    emptyOutDir: true,
    // The emulator recognises a built portal by this manifest.
    manifest: true,
    target: 'es2022',
    reportCompressedSize: false,
  },
});
