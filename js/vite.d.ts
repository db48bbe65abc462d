import type { Plugin } from 'vite'

/** Options of the `farm()` Vite plugin. */
export interface FarmVitePluginOptions {
  /** FARM plugins to list in `plugin-config.json`. */
  plugins?: Array<string | { name: string; options?: unknown }>
  /** The app's version. Default: `npm_package_version`, else `0.0.0`. */
  version?: string
  /** The build id (set by `farm build`). */
  buildId?: string
  /** The environment. Default: Vite's mode. */
  environment?: string
  /** The build time (ISO 8601). Default: now. */
  buildTimestamp?: string
  /** Lossless PNG optimization of the written images (Rust, oxipng), cached by content. Default: on. */
  images?: boolean | { level?: number; cacheDir?: string }
  /** Write a bundle analysis (raw/gzip/brotli sizes per file, largest modules per chunk). */
  analyze?: boolean | { file?: string }
  /** Receives the chunk/module information and image results after the files are written. */
  onBundle?: (info: { outDir: string; chunks: object[]; images: object | null }) => void
}

/**
 * The FARM Vite plugin: emits `plugin-config.json` (enabled plugins, app version, build info),
 * optimizes images and hands the bundle's chunk/module information to Rust for analysis.
 */
export declare function farm(options?: FarmVitePluginOptions): Plugin
export default farm
