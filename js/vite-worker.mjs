// Child process that runs one Vite build for the orchestrator (see vite-runner.mjs).
// Vite is imported from the app's own node_modules.
import { stripVTControlCharacters } from 'node:util';
import { importFrom } from './resolve.mjs';
import { farm } from './vite.mjs';

process.on('message', async (msg) => {
  if (msg?.type !== 'build') return;
  try {
    const result = await runBuild(msg.request);
    process.send({ type: 'result', ok: true, result }, () => process.exit(0));
  } catch (e) {
    process.send({ type: 'result', ok: false, error: describeError(e) }, () => process.exit(1));
  }
});

async function runBuild(req) {
  const vite = await importFrom(req.root, 'vite');
  if (!vite) throw new Error(`vite is not installed for ${req.root}: run \`npm install -D vite\` in the app`);
  const { build, loadConfigFromFile, mergeConfig } = vite.mod;
  const logs = [];
  const warnings = [];
  const logger = {
    info: (m) => logs.push(stripVTControlCharacters(String(m))),
    warn: (m) => warnings.push(stripVTControlCharacters(String(m))),
    warnOnce: (m) => warnings.push(stripVTControlCharacters(String(m))),
    error: (m) => logs.push(stripVTControlCharacters(String(m))),
    clearScreen() {},
    hasErrorLogged: () => false,
    hasWarned: false,
  };
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
    plugins: [farm({ plugins: req.plugins, version: req.version, buildId: req.buildId, environment: req.environment, buildTimestamp: req.buildTimestamp })],
  };
  // The user's vite.config wins over FARM's defaults; only where the output goes is FARM's.
  const config = mergeConfig(farmDefaults, loaded?.config ?? {});
  config.root = req.root;
  config.configFile = false;
  config.logLevel = 'warn';
  config.customLogger = logger;
  config.build = { ...config.build, outDir: req.outDir, emptyOutDir: true, write: true };
  const out = await build(config);
  const outputs = (Array.isArray(out) ? out : [out]).flatMap((o) => o.output ?? []);
  const files = outputs.map((f) => ({
    fileName: f.fileName,
    type: f.type,
    size: f.type === 'chunk' ? Buffer.byteLength(f.code) : typeof f.source === 'string' ? Buffer.byteLength(f.source) : f.source.length,
    isEntry: f.type === 'chunk' ? f.isEntry : false,
    name: f.name ?? null,
    modules: f.type === 'chunk' ? f.moduleIds.length : 0,
  }));
  return { viteVersion: vite.version, files, logs, warnings };
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
