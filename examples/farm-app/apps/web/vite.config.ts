import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Build-time constants (__BUILD_VERSION__, ...) and the output directory are set by `farm build`.
export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      '/api': { target: 'http://127.0.0.1:8000', changeOrigin: true },
    },
  },
});
