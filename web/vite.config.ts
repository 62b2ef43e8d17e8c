import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The console is built into web/dist and served by Herald itself (src/api/web-console.ts).
// `npx vite --config web/vite.config.ts` runs a dev server that forwards /api to a local Herald.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    // Ant Design is most of the bundle; it is cached for a year under its hashed name.
    chunkSizeWarningLimit: 2000,
  },
  server: {
    proxy: { '/api': process.env.HERALD_URL ?? 'http://localhost:8080' },
  },
});
