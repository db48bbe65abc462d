// The type declarations: index.d.ts (the raw binding, CJS) and js/index.d.mts (the ESM entry) type
// real usage and reject wrong use, declare exactly what each entry exports, and the config types
// and JSON Schema (generated from the Rust config types) accept a correct config and reject a
// wrong key or type.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, copyFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { REPO, EXAMPLE } from './helpers.mjs';

const require = createRequire(import.meta.url);
const TSC = path.join(REPO, 'node_modules/typescript/bin/tsc');
const FIXTURES = path.join(REPO, '__test__/fixtures/config');

/** A temp ESM package with `@farm/build-native` installed (a link to this repo) and `files`. */
function tsProject(files) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'farm-dts-'));
  symlinkSync(REPO, path.join(dir, 'farm'));
  mkdirSync(path.join(dir, 'node_modules/@farm'), { recursive: true });
  symlinkSync(REPO, path.join(dir, 'node_modules/@farm/build-native'));
  writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n');
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

const MODES = {
  nodenext: ['--module', 'nodenext', '--moduleResolution', 'nodenext'],
  bundler: ['--module', 'preserve', '--moduleResolution', 'bundler'],
};

function tsc(dir, file, mode = 'nodenext') {
  return spawnSync(process.execPath, [TSC, '--noEmit', '--strict', '--target', 'es2022', '--lib', 'es2022,dom', ...MODES[mode], file], {
    cwd: dir,
    encoding: 'utf8',
  });
}

function check(source) {
  return tsc(tsProject({ 'use.ts': source }), 'use.ts');
}

const GOOD = `import type { BuildOrchestrator as B, BuildResult, BuildEvent, BuildOptions, TaskStatus } from './farm/index.js';
declare const B0: typeof B;
const orch = new B0({ appName: 'x' }, { root: '.', configFile: 'farm.config.ts' });
const opts: BuildOptions = { signal: new AbortController().signal, onEvent: (evs: BuildEvent[]) => evs.forEach((e) => e.kind === 'warning' && e.message), continueOnError: true, noCache: false };
const r: Promise<BuildResult> = orch.build(['frontend'], opts);
r.then((res) => {
  const code: string | undefined = res.error?.code;
  const hashes: string[] = res.artifacts.map((a) => a.hash + a.type + a.path + a.size);
  const cache = res.tasks.map((t) => [t.name, t.status === 'succeeded', t.cache === 'hit', t.key, t.restoreMs]);
  const failed: TaskStatus[] = res.tasks.filter((t) => t.status !== 'skipped').map((t) => t.status);
  const mem: number = res.metrics.peakRssBytes;
  return [code, hashes, cache, failed, mem, res.buildId, res.duration, res.warnings.join()];
});
const plan: Array<{ name: string; deps: string[] }> = orch.plan(['backend']);
const outDir: string = orch.config.outputDir;
`;

test('index.d.ts: real usage type-checks', () => {
  const r = check(GOOD);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('index.d.ts: a wrong use fails to type-check', () => {
  const r = check(`${GOOD}\nconst wrong: number = orch.plan()[0].name;\norch.build(['x'], { onEvent: 42 });\n`);
  assert.notEqual(r.status, 0);
  assert.match(r.stdout, /use\.ts\(\d+,\d+\): error TS2322/);
});

test('index.d.ts: statuses, cache states and event kinds are string unions', () => {
  const r = check(`import type { TaskResult, BuildEvent } from './farm/index.js';
declare const t: TaskResult; declare const e: BuildEvent;
if (t.status === 'succeded') {}
if (t.cache === 'hits') {}
if (e.kind === 'task-started' || e.kind === 'task-strated') {}
`);
  assert.notEqual(r.status, 0);
  const errors = r.stdout.split('\n').filter((l) => /error TS2367/.test(l));
  assert.deepEqual(errors.map((l) => l.match(/use\.ts\((\d+),/)[1]), ['3', '4', '5'], r.stdout);
});

test('ESM entry types: fromProject, defineConfig, loadConfig and sync or async plugin hooks', () => {
  for (const mode of Object.keys(MODES)) {
    const dir = tsProject({
      'use.ts': `import { BuildOrchestrator, defineConfig, loadConfig, ConfigError, analyzeBundle, builtinTasks, type FarmConfig, type BuildResult } from '@farm/build-native';
const orch: BuildOrchestrator = await BuildOrchestrator.fromProject('.', { outputDir: 'out' });
const res: BuildResult = await orch.build(null, {
  plugins: [{ name: 'sync', preBuild: (ctx) => void ctx.tasks.length }, { name: 'async', postBuild: async (s) => { if (!s.success) throw new Error(s.error?.message); } }],
});
const loaded = await loadConfig('.');
const cfg: FarmConfig = defineConfig({ ...loaded.config, appName: 'y' });
const e = new ConfigError('x');
const code: 'CONFIG_INVALID' = e.code;
const tasks: string[] = builtinTasks();
void [res, cfg, code, tasks, analyzeBundle];
`,
    });
    const r = tsc(dir, 'use.ts', mode);
    assert.equal(r.status, 0, `${mode}: ${r.stdout}${r.stderr}`);
  }
});

test('farm.config.ts: tsc accepts a correct config and rejects a wrong key and a wrong type', () => {
  for (const mode of Object.keys(MODES)) {
    const good = tsProject({});
    copyFileSync(path.join(FIXTURES, 'good.farm.config.ts'), path.join(good, 'farm.config.ts'));
    const ok = tsc(good, 'farm.config.ts', mode);
    assert.equal(ok.status, 0, `${mode}: ${ok.stdout}${ok.stderr}`);

    const bad = tsProject({});
    copyFileSync(path.join(FIXTURES, 'bad.farm.config.ts'), path.join(bad, 'farm.config.ts'));
    const r = tsc(bad, 'farm.config.ts', mode);
    assert.notEqual(r.status, 0, mode);
    // TS2561: `fronted` is not a known key (did you mean `frontend`); TS2322: a string where a number goes, a database
    // that is not one of the three.
    assert.match(r.stdout, /farm\.config\.ts\(5,\d+\): error TS2561: .*'fronted'.*Did you mean to write 'frontend'/, r.stdout);
    assert.match(r.stdout, /farm\.config\.ts\(9,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/, r.stdout);
    assert.match(r.stdout, /farm\.config\.ts\(10,\d+\): error TS2322: Type '"mysql"' is not assignable/, r.stdout);
  }
});

/** The JSON Schema compiled by a strict validator (ajv: an unknown keyword or format is an error). */
function schemaValidator() {
  const Ajv = require('ajv');
  const ajv = new Ajv({ strict: true, allErrors: true });
  return ajv.compile(JSON.parse(readFileSync(path.join(REPO, 'farm.config.schema.json'), 'utf8')));
}

test('farm.config.schema.json: validates the example and the JSON fixture, rejects the wrong one', async () => {
  const validate = schemaValidator();
  const { loadConfig } = await import('../js/index.mjs');
  const { config } = await loadConfig(EXAMPLE);
  assert.ok(validate(config), JSON.stringify(validate.errors, null, 2));
  const good = JSON.parse(readFileSync(path.join(FIXTURES, 'good.farm.config.json'), 'utf8'));
  assert.ok(validate(good), JSON.stringify(validate.errors, null, 2));
  // The TypeScript fixture's data (functions left out) is valid too.
  const bad = JSON.parse(readFileSync(path.join(FIXTURES, 'bad.farm.config.json'), 'utf8'));
  assert.equal(validate(bad), false);
  const found = validate.errors.map((e) => `${e.instancePath} ${e.keyword} ${e.params.additionalProperty ?? ''}`.trim());
  assert.ok(found.includes('additionalProperties fronted'), found.join('\n'));
  assert.ok(found.includes('/build/concurrency type'), found.join('\n'));
  assert.ok(found.some((f) => f.startsWith('/docker/database')), found.join('\n'));
  // Rust agrees with the schema on both.
  const native = require('../index.js');
  assert.equal(native.validateConfig(good, 'good.farm.config.json').docker.database, 'postgres');
  assert.throws(() => native.validateConfig(bad, 'bad.farm.config.json'), /`fronted`: unknown key/);
});

/** Names a declaration file exports, split into values and types (TypeScript's own checker). */
function declaredExports(file) {
  const ts = require('typescript');
  const program = ts.createProgram([file], { strict: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, noEmit: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  const values = new Set();
  const types = new Map();
  for (const sym of checker.getExportsOfModule(checker.getSymbolAtLocation(source))) {
    const target = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
    if (target.flags & ts.SymbolFlags.Value) values.add(sym.name);
    else if (target.flags & ts.SymbolFlags.TypeAlias) {
      const t = checker.getDeclaredTypeOfSymbol(target);
      types.set(sym.name, t.isUnion() ? t.types.map((u) => u.value).filter((v) => typeof v === 'string') : []);
    }
  }
  return { values, types };
}

/** Runtime exports must be declared values, or napi string enums declared as their unions. */
function assertExportsMatch(entry, runtime, declared) {
  const missing = [...declared.values].filter((n) => !(n in runtime));
  assert.deepEqual(missing, [], `${entry}: declared but not exported`);
  for (const name of Object.keys(runtime).filter((n) => !declared.values.has(n))) {
    const union = declared.types.get(name);
    assert.ok(union, `${entry}: \`${name}\` is exported but not declared`);
    assert.deepEqual([...union].sort(), Object.values(runtime[name]).sort(), `${entry}: ${name}'s values`);
  }
}

test('each entry declares exactly what it exports (CJS index.js, ESM js/index.mjs)', async () => {
  const cjs = require('../index.js');
  const cjsDecl = declaredExports(path.join(REPO, 'index.d.ts'));
  assertExportsMatch('index.js', cjs, cjsDecl);
  const esm = await import('../js/index.mjs');
  const esmDecl = declaredExports(path.join(REPO, 'js/index.d.mts'));
  assertExportsMatch('js/index.mjs', esm, esmDecl);
  // The ESM entry has the raw binding's helpers, and its own.
  for (const n of ['analyzeBundle', 'optimizeImages', 'checkBudgets', 'compressionInfo', 'builtinTasks', 'defineConfig', 'loadConfig']) {
    assert.ok(esmDecl.values.has(n) && typeof esm[n] === 'function', n);
  }
  assert.equal(typeof esm.BuildOrchestrator.fromProject, 'function');
  assert.equal(typeof cjs.BuildOrchestrator.fromProject, 'undefined', 'fromProject is the ESM entry’s');
  assert.ok(!cjsDecl.values.has('defineConfig'));
});
