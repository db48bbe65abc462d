/// <reference types="vite/client" />

declare const __BUILD_VERSION__: string;
declare const __BUILD_TIMESTAMP__: string;
declare const __ENVIRONMENT__: string;

interface ImportMetaEnv {
  /** Base URL of the API; empty means same origin (the dev server proxies /api). */
  readonly VITE_API_URL?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
