import { defineConfig } from 'vite';

// The dev server proxies the API and the WebSocket to a Parley node (default http://localhost:5080), so `npm run dev`
// gives hot reload against a real server. The production build goes to dist/, which Parley.Server's build copies
// into its wwwroot (see src/Parley.Server/WebClient.targets).
const server = process.env.PARLEY_SERVER ?? 'http://localhost:5080';

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // No inline <script> or data: modules: the server's CSP is script-src 'self'.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
  server: {
    proxy: {
      '/api': server,
      '/healthz': server,
      '/ws': { target: server.replace(/^http/, 'ws'), ws: true },
    },
  },
});
