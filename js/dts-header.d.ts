/**
 * Loads `farm.config.{ts,mts,mjs,js,json}` from a project directory (TypeScript through Vite's
 * config loader, resolved from the project). Exported by the ESM entry only.
 */
export declare function loadConfig(root?: string): Promise<{ config: Record<string, any>; configFile: string; plugins: FarmPluginHooks[] }>
/** Identity helper giving `farm.config.ts` types. Exported by the ESM entry only. */
export declare function defineConfig<T extends Record<string, any>>(config: T): T
