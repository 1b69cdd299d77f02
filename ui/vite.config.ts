import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vitest/config';

// The Tauri shell loads ui/dist (frontendDist ../ui/dist) in release builds and the dev
// server (devUrl http://localhost:5173) in dev builds. Relative base: assets resolve from
// whatever origin the webview serves the files on. Everything is bundled: the app runs offline.
export default defineConfig({
  base: './',
  plugins: [svelte()],
  clearScreen: false,
  server: {
    port: 5173,
    strictPort: true,
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1500,
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
    // Through Vite, so that a test's mock of @tauri-apps/api/core also reaches the Tauri
    // plugins' JS (dialog, opener): the tests see the plugin commands the window sends.
    server: { deps: { inline: [/@tauri-apps\//] } },
  },
});
