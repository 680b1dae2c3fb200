import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

// The dashboard only ever calls relative URLs; in development Vite forwards them to a
// local `harness serve` so the browser sees one origin, exactly as in production.
const upstream = process.env.HARNESS_UPSTREAM ?? 'http://127.0.0.1:3333';

export default defineConfig({
  plugins: [react()],
  // `@/lib/…` is src/lib/… (as in tsconfig.json's paths and vitest.config.ts).
  resolve: { alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) } },
  server: {
    proxy: {
      '/api': upstream,
      '/health': upstream,
      '/ws': { target: upstream, ws: true },
    },
  },
  // No source maps in the build: they would triple what the dashboard image ships
  // (it must stay under 20 MB). `npm run dev` serves maps for debugging.
  // The largest chunk is the review's diff view (loaded only when a task's diff is shown):
  // highlight.js with its grammars, about 1 MB minified.
  build: { sourcemap: false, chunkSizeWarningLimit: 1100 },
});
