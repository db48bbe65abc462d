// Loads farm.config.* on the JavaScript side. TypeScript configs go through Vite's config loader
// (Vite resolved from the project). Values must be JSON data, except plugin hook functions, which
// are split off and handed to the orchestrator as callbacks.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { importFrom } from './resolve.mjs';
import { findViteApps } from './detect.mjs';
import { readCached, scriptImports, writeCached } from './config-cache.mjs';

const CANDIDATES = ['farm.config.ts', 'farm.config.mts', 'farm.config.mjs', 'farm.config.js', 'farm.config.json'];
const HOOKS = ['preBuild', 'postBuild', 'onTaskStart', 'onTaskEnd'];

/** An error with `code: 'CONFIG_INVALID'`. */
export class ConfigError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ConfigError';
    this.code = 'CONFIG_INVALID';
  }
}

/**
 * Finds and loads the config of `root`: `{ config, configFile, plugins, cache }`. A JavaScript or
 * TypeScript config's value comes from its cache when nothing it depends on changed (see
 * config-cache.mjs); `cache` says `hit`, `stored`, `off` (the `cache: false` option or a JSON
 * config) or why it could not be stored.
 */
export async function loadConfig(root = process.cwd(), file, { cache = true } = {}) {
  root = path.resolve(root);
  const configFile = file ? path.resolve(root, file) : CANDIDATES.map((c) => path.join(root, c)).find((c) => existsSync(c));
  if (!configFile || !existsSync(configFile)) {
    throw new ConfigError(
      `${file ?? 'farm.config'}: no config found in ${root} (looked for ${CANDIDATES.join(', ')}). Fix: run \`npx farm init\` to write one from the project's layout`,
    );
  }
  const rel = path.relative(root, configFile) || configFile;
  const cacheable = cache && !configFile.endsWith('.json');
  if (cacheable) {
    const cached = readCached(root, configFile);
    if (cached) return { config: cached, configFile: rel, plugins: [], cache: 'hit' };
  }
  let raw;
  let deps = [];
  try {
    ({ value: raw, deps } = await loadFile(configFile, root));
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`${rel}: could not be loaded: ${String(e?.message ?? e).split('\n')[0]}`);
  }
  if (typeof raw === 'function') raw = await raw({ command: 'build', mode: 'production' });
  const { config, plugins } = splitConfig(raw, rel);
  const why = cacheable ? writeCached(root, configFile, deps, config, plugins.length > 0) : 'off';
  return { config, configFile: rel, plugins, cache: why ?? 'stored' };
}

async function loadFile(file, root) {
  if (file.endsWith('.json')) {
    try {
      return { value: JSON.parse(readFileSync(file, 'utf8')), deps: [] };
    } catch (e) {
      throw new ConfigError(`${path.basename(file)}: is not valid JSON: ${e.message}`);
    }
  }
  if (file.endsWith('.ts') || file.endsWith('.mts')) {
    // The project's Vite: from the root, else from the Vite app inside it (a repo whose frontend
    // has its own node_modules, e.g. frontend/).
    let vite = await importFrom(root, 'vite');
    for (const app of vite ? [] : findViteApps(root)) {
      vite = await importFrom(path.join(root, app), 'vite');
      if (vite) break;
    }
    if (!vite) {
      throw new ConfigError(
        `${path.basename(file)}: loading a TypeScript config needs Vite installed in the project. Fix: \`npm install -D vite\`, or rename it to farm.config.mjs`,
      );
    }
    const loaded = await vite.mod.loadConfigFromFile({ command: 'build', mode: 'production', isSsrBuild: false, isPreview: false }, file, root, 'silent');
    if (!loaded) throw new ConfigError(`${path.basename(file)}: could not be loaded`);
    // The local files Vite bundled into the config (it leaves packages external).
    const deps = (loaded.dependencies ?? []).map((d) => path.resolve(root, d)).filter((d) => d !== file);
    return { value: loaded.config, deps: [...new Set(deps)].sort() };
  }
  const mod = await import(`${pathToFileURL(file).href}?t=${Date.now()}`);
  return { value: mod.default ?? mod, deps: scriptImports(file) };
}

/** Splits plugin hooks off a config and checks that everything else is JSON data. */
export function splitConfig(raw, file = 'farm.config') {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`${file}: the config must be an object, found ${describe(raw)}. Fix: \`export default { appName: 'my-app' }\``);
  }
  const plugins = [];
  const config = { ...raw };
  if (Array.isArray(raw.plugins)) {
    config.plugins = raw.plugins.map((p, i) => {
      if (p && typeof p === 'object' && !Array.isArray(p)) {
        const hooks = HOOKS.filter((h) => typeof p[h] === 'function');
        if (hooks.length > 0) {
          if (typeof p.name !== 'string') throw new ConfigError(`${file}: \`plugins[${i}].name\`: is required. Fix: give the plugin a name`);
          if (p.enabled !== false) plugins.push(p);
          const rest = { name: p.name };
          if (p.options !== undefined) rest.options = p.options;
          if (p.enabled !== undefined) rest.enabled = p.enabled;
          return rest;
        }
      }
      return p;
    });
  }
  return { config: toJson(config, '', file), plugins };
}

function toJson(v, at, file) {
  const where = at || '(root)';
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      if (!Number.isFinite(v)) throw new ConfigError(`${file}: \`${where}\`: ${v} is not a finite number`);
      return v;
    case 'undefined':
      return undefined;
    case 'function':
      throw new ConfigError(`${file}: \`${where}\`: is a function; config values must be JSON data (only plugin hooks ${HOOKS.join(', ')} may be functions)`);
    case 'object':
      if (v === null) return null;
      if (Array.isArray(v)) return v.map((x, i) => toJson(x, `${at}[${i}]`, file) ?? null);
      if (v instanceof RegExp || (Object.getPrototypeOf(v) !== Object.prototype && Object.getPrototypeOf(v) !== null)) {
        throw new ConfigError(`${file}: \`${where}\`: ${describe(v)} is not JSON data. Fix: use a plain object, array, string, number or boolean`);
      }
      return Object.fromEntries(
        Object.entries(v)
          .map(([k, x]) => [k, toJson(x, at ? `${at}.${k}` : k, file)])
          .filter(([, x]) => x !== undefined),
      );
    default:
      throw new ConfigError(`${file}: \`${where}\`: a ${typeof v} is not JSON data`);
  }
}

function describe(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return `a ${v.constructor?.name ?? 'object'}`;
  return `a ${typeof v}`;
}
