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
}

/** The FARM Vite plugin: emits `plugin-config.json` (enabled plugins, app version, build info). */
export declare function farm(options?: FarmVitePluginOptions): Plugin
export default farm
