// ESM entry of @farm/build-native: the native orchestrator with the Vite runner and Node's own
// settings filled in, plus the config loader.
import { createRequire } from 'node:module';
import path from 'node:path';
import { ConfigError, loadConfig, splitConfig } from './config.mjs';
import { createViteRunner } from './vite-runner.mjs';

const require = createRequire(import.meta.url);
const native = require('../index.js');

// Everything the raw binding exports, with `BuildOrchestrator` replaced by the subclass below.
export const {
  __napiBindingTarget,
  analyzeBundle,
  builtinTasks,
  CacheState,
  checkBudgets,
  compressionInfo,
  daemonServe,
  daemonSocketPath,
  daemonStatus,
  daemonStop,
  diffDryRuns,
  DryRunDiffKind,
  EventKind,
  generateTypes,
  optimizeImages,
  renderBuildSummary,
  TaskStatus,
  unwatchProcess,
  validateConfig,
  version,
  watchProcess,
} = native;
export { ConfigError, loadConfig, splitConfig };

/** Returns `config` as it is: its type (`FarmConfig`) gives `farm.config.ts` completion and checks. */
export function defineConfig(config) {
  return config;
}

const HOOKS = ['preBuild', 'postBuild', 'onTaskStart', 'onTaskEnd'];

/** Wraps a plugin's hooks so each returns a Promise (sync hooks are allowed) and keeps `this`. */
function normalizePlugin(p) {
  const out = { name: p.name };
  for (const h of HOOKS) {
    if (typeof p[h] === 'function') {
      out[h] = async (arg) => {
        await p[h].call(p, arg);
      };
    }
  }
  return out;
}

/**
 * The FARM build orchestrator. `new BuildOrchestrator(config, { root, configFile })` validates the
 * config (throws `CONFIG_INVALID`); `build(targets?, options?)` resolves to a `BuildResult`.
 */
export class BuildOrchestrator extends native.BuildOrchestrator {
  #plugins = [];

  /** Loads `farm.config.*` from `root` and returns an orchestrator for it; `overrides` are merged on top. */
  static async fromProject(root = process.cwd(), overrides = {}) {
    root = path.resolve(root);
    const { config, configFile, plugins } = await loadConfig(root);
    const orch = new BuildOrchestrator({ ...config, ...overrides }, { root, configFile });
    orch.#plugins = plugins;
    return orch;
  }

  /** The plan with each task's cache key and hit/miss (same tool versions as `build`). */
  dryRun(targets, toolVersions = {}) {
    return super.dryRun(targets ?? undefined, { node: process.version, ...toolVersions });
  }

  /** What `farm build --dry-run [--json]` prints (the native CLI's renderer), with `dryRun`'s tool versions. */
  dryRunText(targets, json = false, toolVersions = {}) {
    return super.dryRunText(targets ?? undefined, json, { node: process.version, ...toolVersions });
  }

  /** What changed for `task` since its last cached build. */
  cacheWhy(task, toolVersions = {}) {
    return super.cacheWhy(task, { node: process.version, ...toolVersions });
  }

  build(targets, options = {}) {
    const runner = options.frontendRunner ? null : createViteRunner();
    const plugins = [...this.#plugins, ...(options.plugins ?? [])].map(normalizePlugin);
    const promise = super.build(targets ?? undefined, {
      ...options,
      plugins,
      frontendRunner: options.frontendRunner ?? runner.run,
      cancelFrontend: options.cancelFrontend ?? runner?.cancel,
      nodePath: options.nodePath ?? process.execPath,
      toolVersions: { node: process.version, ...options.toolVersions },
    });
    return runner ? promise.finally(() => runner.dispose()) : promise;
  }
}
