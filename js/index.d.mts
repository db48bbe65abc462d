// Types of the ESM entry (`import … from '@farm/build-native'`, js/index.mjs): everything the raw
// binding exports (index.d.ts), with `BuildOrchestrator` extended, plus the config helpers.
import * as native from '../index.js'
import type { BuildResult, FarmConfig, FarmPluginHooks } from '../index.js'

export * from '../index.js'

/** A plugin as written in `farm.config.*` or passed to `build()`: hooks may be sync or async. */
export type FarmPlugin = FarmPluginHooks

/** Options of `BuildOrchestrator#build` on the ESM entry: the Vite runner and Node's settings are filled in. */
export interface BuildOptions extends native.BuildOptions {
  /** Plugins run after the ones from `farm.config.*` (for `fromProject`). */
  plugins?: FarmPlugin[]
}

/**
 * The FARM build orchestrator. `new BuildOrchestrator(config, { root, configFile })` validates the
 * config (throws `CONFIG_INVALID`); `build(targets?, options?)` resolves to a `BuildResult`.
 */
export declare class BuildOrchestrator extends native.BuildOrchestrator {
  /**
   * Loads `farm.config.*` from `root` (default: the current directory) and returns an orchestrator
   * for it, with the config's plugin hooks; `overrides` are merged over the config's top level.
   * Rejects with a `ConfigError` (`code: 'CONFIG_INVALID'`).
   */
  static fromProject(root?: string, overrides?: Partial<FarmConfig>): Promise<BuildOrchestrator>
  /** The plan with each task's cache key and hit/miss (`node` is this process's version). */
  dryRun(targets?: string[] | null, toolVersions?: Record<string, string>): ReturnType<native.BuildOrchestrator['dryRun']>
  /** What `farm build --dry-run [--json]` prints, rendered by the addon (`node` is this process's version). */
  dryRunText(targets?: string[] | null, json?: boolean, toolVersions?: Record<string, string>): string
  /** What changed for `task` since its last cached build (`node` is this process's version). */
  cacheWhy(task: string, toolVersions?: Record<string, string>): ReturnType<native.BuildOrchestrator['cacheWhy']>
  /** Builds `targets` (default: all) with Vite run in a child process; never rejects. */
  build(targets?: string[] | null, options?: BuildOptions | null): Promise<BuildResult>
}

/** A config error: `code` is `'CONFIG_INVALID'`; the message names the file, the key and the fix. */
export declare class ConfigError extends Error {
  constructor(message: string)
  readonly code: 'CONFIG_INVALID'
}

/** What `loadConfig` found. */
export interface LoadedConfig {
  /** The config as JSON data (plugin hooks split off). */
  config: FarmConfig
  /** The config file, relative to the root. */
  configFile: string
  /** The plugins that have hook functions (enabled ones only). */
  plugins: FarmPlugin[]
  /**
   * The config-value cache of a JS/TS config: `hit` (not evaluated), `stored` (evaluated and
   * cached), `off` (a JSON config, or `{ cache: false }`), or why it could not be cached.
   */
  cache: string
}

/**
 * Loads `farm.config.{ts,mts,mjs,js,json}` from `root` (TypeScript through the project's Vite),
 * or `file` relative to it. A JS/TS config's JSON value is cached in `.farm/cache/config/`, keyed
 * by its file and the local files it imports (see the README); `{ cache: false }` evaluates it
 * anyway. Rejects with a `ConfigError`.
 */
export declare function loadConfig(root?: string, file?: string, options?: { cache?: boolean }): Promise<LoadedConfig>

/** Splits plugin hooks off a config object and checks the rest is JSON data; throws `ConfigError`. */
export declare function splitConfig(raw: unknown, file?: string): { config: FarmConfig; plugins: FarmPlugin[] }

/** Returns `config` as it is; its type gives `farm.config.ts` completion and type errors. */
export declare function defineConfig(config: FarmConfig): FarmConfig
