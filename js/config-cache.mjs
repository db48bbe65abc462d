// The evaluated value of a `farm.config.ts`/`.mts`/`.mjs`/`.js`, cached as JSON so that a build
// whose config did not change skips Node's or Vite's config loader (Vite bundles a TypeScript
// config on every load, which costs more than a no-op build itself).
//
// An entry lives in `<root>/.farm/cache/config/<config file name>.json`: the default cacheDir (the
// config that could move it is what is being loaded, so a config that sets another is not cached). It holds the key's parts and the value; it is
// used only when every part is unchanged:
//   - the bytes of the config file and of every local file it imports, transitively (for a
//     TypeScript config the files Vite bundled; for a JavaScript one its relative imports);
//   - the bytes of the project's lockfile (packages the config imports), the Node.js version and
//     this package's version;
//   - the values (digests only) of the environment variables read as `process.env.NAME`.
// A config is not cached when its value holds plugin hooks (functions), when it might hold a
// secret (a key named like apiKey, token, secret, password, auth, credential), or when its sources
// read something the key cannot cover (files, the clock, randomness, argv, cwd, processes,
// `process.env` other than `process.env.NAME`).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const VERSION = createRequire(import.meta.url)('../package.json').version;
const FORMAT = 1;
const LOCKFILES = ['package-lock.json', 'pnpm-lock.yaml', 'yarn.lock', 'bun.lock', 'bun.lockb', 'npm-shrinkwrap.json'];
const SECRET_KEY = /api[-_]?key|token|secret|passw|credential|auth/i;
/** Reads the key cannot cover. */
const IMPURE = [
  [/\breadFile(Sync)?\b|\breaddir(Sync)?\b|\bexistsSync\b|\bstatSync\b|\bopenSync\b|\bfs\/promises\b/, 'reads files'],
  [/\bDate\b|performance\.now|process\.hrtime/, 'reads the clock'],
  [/Math\.random|randomUUID|randomBytes|getRandomValues/, 'uses randomness'],
  [/process\.argv|process\.cwd|process\.platform|process\.arch|\bos\.\w+\(/, 'reads the process or the machine'],
  [/child_process|\bexecSync\b|\bspawnSync\b|\bfetch\(/, 'runs processes or fetches'],
  [/import\.meta\.env/, 'reads import.meta.env'],
];
const ENV_NAMED = /process\.env(?:\.([A-Za-z_$][\w$]*)|\[\s*(['"])([^'"]+)\2\s*\])/g;

const sha = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** Where the cached value of `configFile` (absolute) in `root` is kept. */
export function cachePath(root, configFile) {
  return path.join(root, '.farm', 'cache', 'config', `${path.basename(configFile)}.json`);
}

/** The relative module specifiers of a JavaScript/TypeScript source (`from './x'`, `import('./x')`, `require('./x')`). */
export function relativeImports(text) {
  const out = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bimport\s+)(['"`])(\.{1,2}\/[^'"`]+)\1/g;
  for (const m of text.matchAll(re)) out.push(m[2]);
  return out;
}

/** Resolves a relative specifier as Node and Vite do for config files. */
function resolveModule(dir, spec) {
  const base = path.resolve(dir, spec);
  const exts = ['', '.ts', '.mts', '.cts', '.js', '.mjs', '.cjs', '.json', '.tsx', '.jsx'];
  for (const e of exts) if (isFile(base + e)) return base + e;
  if (spec.endsWith('.js')) for (const e of ['.ts', '.tsx']) if (isFile(base.slice(0, -3) + e)) return base.slice(0, -3) + e;
  for (const e of ['.ts', '.js', '.mjs']) if (isFile(path.join(base, `index${e}`))) return path.join(base, `index${e}`);
  return null;
}

function isFile(p) {
  return statSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
}

/** The local files a JavaScript config imports, transitively (not the config itself). */
export function scriptImports(file) {
  const seen = new Set();
  const stack = [file];
  while (stack.length && seen.size < 200) {
    const f = stack.pop();
    let text;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const spec of relativeImports(text)) {
      const dep = resolveModule(path.dirname(f), spec);
      if (dep && dep !== file && !seen.has(dep)) {
        seen.add(dep);
        if (/\.[cm]?[jt]sx?$/.test(dep)) stack.push(dep);
      }
    }
  }
  return [...seen].sort();
}

/** Why the sources cannot be cached (null if they can), and the env names they read. */
export function purity(sources) {
  const env = new Set();
  for (const [file, text] of sources) {
    for (const [re, what] of IMPURE) if (re.test(text)) return { reason: `${path.basename(file)} ${what}`, env: [] };
    const named = [...text.matchAll(ENV_NAMED)];
    for (const m of named) env.add(m[1] ?? m[3]);
    const all = text.match(/process\.env\b/g)?.length ?? 0;
    if (all > named.length) return { reason: `${path.basename(file)} reads process.env other than process.env.NAME`, env: [] };
  }
  return { reason: null, env: [...env].sort() };
}

function lockfileDigest(root) {
  for (let dir = root; ; dir = path.dirname(dir)) {
    for (const l of LOCKFILES) {
      const p = path.join(dir, l);
      if (existsSync(p)) return `${l}:${sha(readFileSync(p))}`;
    }
    if (existsSync(path.join(dir, '.git')) || path.dirname(dir) === dir) return 'none';
  }
}

/** The key parts of a config with these dependency files and env names. */
function parts(root, configFile, deps, envNames) {
  const files = {};
  for (const f of [configFile, ...deps]) {
    try {
      files[path.relative(root, f) || f] = sha(readFileSync(f));
    } catch {
      files[path.relative(root, f) || f] = 'missing';
    }
  }
  const env = Object.fromEntries(envNames.map((n) => [n, process.env[n] === undefined ? 'unset' : sha(`farm-env\0${process.env[n]}`)]));
  return { format: FORMAT, farm: VERSION, node: process.version, lockfile: lockfileDigest(root), files, env };
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** The cached value of `configFile` if nothing it depends on changed, else null. */
export function readCached(root, configFile) {
  let entry;
  try {
    entry = JSON.parse(readFileSync(cachePath(root, configFile), 'utf8'));
  } catch {
    return null;
  }
  if (entry?.key?.format !== FORMAT || !entry.key.files || !Array.isArray(entry.deps)) return null;
  const deps = entry.deps.map((d) => path.resolve(root, d));
  const now = parts(root, configFile, deps, Object.keys(entry.key.env ?? {}));
  return same(now, entry.key) ? entry.config : null;
}

/** Whether a JSON config value may hold a secret (a key named like one). */
function mayHoldSecret(v) {
  if (Array.isArray(v)) return v.some(mayHoldSecret);
  if (v && typeof v === 'object') return Object.entries(v).some(([k, x]) => SECRET_KEY.test(k) || mayHoldSecret(x));
  return false;
}

/**
 * Caches `config` (the JSON value of `configFile`, loaded with `deps` as its local imports) when it
 * can be; returns why it was not (a string) or null.
 */
export function writeCached(root, configFile, deps, config, hasPlugins) {
  if (hasPlugins) return 'its plugins have hooks (functions)';
  if (config.cacheDir !== undefined && path.normalize(config.cacheDir) !== path.normalize('.farm/cache')) {
    return 'its cacheDir is not the default .farm/cache';
  }
  if (mayHoldSecret(config)) return 'it may hold a secret';
  const files = [configFile, ...deps];
  const sources = files.filter((f) => /\.[cm]?[jt]sx?$/.test(f)).map((f) => [f, readFileSync(f, 'utf8')]);
  const { reason, env } = purity(sources);
  if (reason) return reason;
  const entry = { key: parts(root, configFile, deps, env), deps: deps.map((d) => path.relative(root, d)), config };
  const file = cachePath(root, configFile);
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(entry));
    renameSync(tmp, file);
  } catch (e) {
    return `could not write ${file}: ${e.message}`;
  }
  return null;
}
