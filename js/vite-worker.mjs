// Child process that runs Vite for the orchestrator (see vite-runner.mjs): one build
// (`{ type: 'build' }`), or a watcher that rebuilds on source changes (`{ type: 'watch' }`, stopped
// by `{ type: 'stop' }`). Vite is imported from the app's own node_modules.
import { stripVTControlCharacters } from 'node:util';
import path from 'node:path';
import { importFrom } from './resolve.mjs';
import { farm } from './vite.mjs';

let watcher = null;

process.on('message', async (msg) => {
  if (msg?.type === 'build') {
    try {
      const result = await runBuild(msg.request);
      process.send({ type: 'result', ok: true, result }, () => process.exit(0));
    } catch (e) {
      process.send({ type: 'result', ok: false, error: describeError(e) }, () => process.exit(1));
    }
  } else if (msg?.type === 'watch') {
    try {
      await runWatch(msg.request);
    } catch (e) {
      process.send({ type: 'error', error: describeError(e), fatal: true }, () => process.exit(1));
    }
  } else if (msg?.type === 'stop') {
    await stop();
  }
});
// The parent went away (killed, crashed): never outlive it.
process.on('disconnect', () => stop());

async function stop() {
  const w = watcher;
  watcher = null;
  try {
    await w?.close();
  } finally {
    process.exit(0);
  }
}

/** Vite's config for `req`: FARM's defaults merged under the user's vite.config (the user wins). */
async function viteConfig(req, vite, { logger, onBundle }) {
  const { loadConfigFromFile, mergeConfig } = vite.mod;
  const env = { command: 'build', mode: req.mode, isSsrBuild: false, isPreview: false };
  const loaded = await loadConfigFromFile(env, undefined, req.root, 'silent');
  const define = {
    __BUILD_VERSION__: JSON.stringify(req.version),
    __BUILD_TIMESTAMP__: JSON.stringify(req.buildTimestamp),
    __ENVIRONMENT__: JSON.stringify(req.environment),
  };
  for (const [k, v] of Object.entries(req.define ?? {})) define[k] = JSON.stringify(v);
  const farmDefaults = {
    mode: req.mode,
    ...(req.base ? { base: req.base } : {}),
    define,
    build: {
      sourcemap: req.sourcemap,
      minify: req.minify,
      target: 'es2020',
      reportCompressedSize: false,
      rolldownOptions: { output: { codeSplitting: { groups: chunkGroups(req.chunks ?? {}) } } },
    },
    plugins: [
      farm({
        plugins: req.plugins,
        version: req.version,
        buildId: req.buildId,
        environment: req.environment,
        buildTimestamp: req.buildTimestamp,
        images: req.images === false ? false : { cacheDir: req.imageCacheDir ?? undefined },
        onBundle,
      }),
    ],
  };
  // The user's vite.config wins over FARM's defaults; only where the output goes is FARM's.
  const config = mergeConfig(farmDefaults, loaded?.config ?? {});
  config.root = req.root;
  config.configFile = false;
  config.logLevel = 'warn';
  config.customLogger = logger;
  config.build = { ...config.build, outDir: req.outDir, emptyOutDir: true, write: true };
  return config;
}

function collectingLogger(logs, warnings) {
  return {
    info: (m) => logs.push(stripVTControlCharacters(String(m))),
    warn: (m) => warnings.push(stripVTControlCharacters(String(m))),
    warnOnce: (m) => warnings.push(stripVTControlCharacters(String(m))),
    error: (m) => logs.push(stripVTControlCharacters(String(m))),
    clearScreen() {},
    hasErrorLogged: () => false,
    hasWarned: false,
  };
}

async function loadVite(root) {
  const vite = await importFrom(root, 'vite');
  if (!vite) throw new Error(`vite is not installed for ${root}: run \`npm install -D vite\` in the app`);
  return vite;
}

function fileSummary(f) {
  return {
    fileName: f.fileName,
    type: f.type,
    size: f.type === 'chunk' ? Buffer.byteLength(f.code) : typeof f.source === 'string' ? Buffer.byteLength(f.source) : f.source.length,
    isEntry: f.type === 'chunk' ? f.isEntry : false,
    name: f.name ?? null,
    modules: f.type === 'chunk' ? f.moduleIds.length : 0,
  };
}

async function runBuild(req) {
  const vite = await loadVite(req.root);
  const logs = [];
  const warnings = [];
  let bundle = { chunks: [], images: null };
  const config = await viteConfig(req, vite, {
    logger: collectingLogger(logs, warnings),
    onBundle: (info) => {
      bundle = { chunks: [...bundle.chunks, ...info.chunks], images: info.images ?? bundle.images };
    },
  });
  const out = await vite.mod.build(config);
  const outputs = (Array.isArray(out) ? out : [out]).flatMap((o) => o.output ?? []);
  return { viteVersion: vite.version, files: outputs.map(fileSummary), chunks: bundle.chunks, images: bundle.images, logs, warnings };
}

/**
 * Vite's watcher on `req.root`: sends `{ type: 'rebuilt', first, durationMs, changed, outDir,
 * chunks, images, warnings }` after each build written to disk, `{ type: 'error', error }` when one
 * fails (the watcher goes on).
 */
async function runWatch(req) {
  const vite = await loadVite(req.root);
  const logs = [];
  const warnings = [];
  let bundle = null;
  let changed = new Set();
  let first = true;
  const config = await viteConfig(req, vite, {
    logger: collectingLogger(logs, warnings),
    onBundle: (info) => {
      bundle = info;
    },
  });
  config.build.watch = { ...(config.build.watch ?? {}), buildDelay: req.buildDelay ?? 100 };
  // Ctrl-C in a terminal reaches the whole process group: close the watcher cleanly.
  process.on('SIGINT', () => stop());
  process.on('SIGTERM', () => stop());
  watcher = await vite.mod.build(config);
  watcher.on('change', (id) => changed.add(path.relative(req.root, id).split(path.sep).join('/')));
  watcher.on('event', (ev) => {
    if (ev.code === 'BUNDLE_END') {
      ev.result?.close?.();
      process.send({
        type: 'rebuilt',
        first,
        durationMs: ev.duration ?? null,
        changed: [...changed],
        outDir: req.outDir,
        chunks: bundle?.chunks ?? [],
        images: bundle?.images ?? null,
        warnings: warnings.splice(0),
      });
      first = false;
      changed = new Set();
      bundle = null;
    } else if (ev.code === 'ERROR') {
      ev.result?.close?.();
      process.send({ type: 'error', error: describeError(ev.error), changed: [...changed] });
      changed = new Set();
    }
  });
  process.send({ type: 'watching', viteVersion: vite.version });
}

/** `{ name: [packages] }` → Rolldown `codeSplitting.groups`. */
function chunkGroups(chunks) {
  const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return Object.entries(chunks).map(([name, pkgs]) => ({
    name,
    test: new RegExp(`[\\\\/]node_modules[\\\\/](${pkgs.map(esc).join('|')})[\\\\/]`),
    priority: 10,
  }));
}

function describeError(e) {
  const first = Array.isArray(e?.errors) ? e.errors[0] : null;
  const loc = first?.loc ?? e?.loc;
  const file = loc?.file ?? first?.id ?? e?.id ?? null;
  let message = stripVTControlCharacters(String(first?.message ?? e?.message ?? e));
  if (file && loc?.line != null && !message.includes(`${file}:${loc.line}`)) message = `${file}:${loc.line}:${loc.column ?? 0}: ${message}`;
  return { message, file, line: loc?.line ?? null, column: loc?.column ?? null };
}
