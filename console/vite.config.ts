import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Run from the package root (`npm run build:console`): paths are relative to `root`.
export default defineConfig({
  root: 'console',
  base: '/console/',
  plugins: [react()],
  build: {
    outDir: '../dist/console-app',
    emptyOutDir: true,
    // The API's CSP allows same-origin scripts only: no inline module preload polyfill.
    modulePreload: { polyfill: false },
    sourcemap: true,
  },
  server: {
    // `vite --config console/vite.config.ts` during development: the API answers on 8080.
    proxy: { '/v1': 'http://127.0.0.1:8080', '/console/v1': 'http://127.0.0.1:8080', '/readyz': 'http://127.0.0.1:8080' },
  },
});
