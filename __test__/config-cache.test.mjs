// The cached value of a JS/TS farm.config: used while the config and the files it imports are
// unchanged, re-evaluated as soon as one of them (or an env var it reads) changes, never stored
// for configs with hooks, secrets or reads the key does not cover.
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { EXAMPLE, project } from './helpers.mjs';
import { loadConfig } from '../js/index.mjs';

const INDEX = new URL('../js/index.mjs', import.meta.url).href;
/** loadConfig in a fresh process, as the CLI runs it (Node keeps imported modules per process). */
function loadFresh(dir) {
  const code = `import { loadConfig } from ${JSON.stringify(INDEX)}; const r = await loadConfig(${JSON.stringify(dir)}); console.log(JSON.stringify({ config: r.config, cache: r.cache }));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' }));
}
const entry = (dir, name) => path.join(dir, '.farm/cache/config', `${name}.json`);

test('an .mjs config: stored, then a hit; editing a transitively imported file gives the new value', async () => {
  const dir = project({
    'farm.config.mjs': "import { name } from './conf/name.mjs';\nexport default { appName: name, version: '1.0.0' };\n",
    'conf/name.mjs': "import { suffix } from '../deep/suffix.js';\nexport const name = `app-${suffix}`;\n",
    'deep/suffix.js': "export const suffix = 'one';\n",
  });
  const first = loadFresh(dir);
  assert.equal(first.cache, 'stored');
  assert.equal(first.config.appName, 'app-one');
  const stored = JSON.parse(readFileSync(entry(dir, 'farm.config.mjs'), 'utf8'));
  assert.deepEqual(stored.deps.sort(), ['conf/name.mjs', 'deep/suffix.js']);
  const second = loadFresh(dir);
  assert.equal(second.cache, 'hit');
  assert.deepEqual(second.config, first.config);

  writeFileSync(path.join(dir, 'deep/suffix.js'), "export const suffix = 'two';\n");
  const third = loadFresh(dir);
  assert.equal(third.cache, 'stored');
  assert.equal(third.config.appName, 'app-two');
  assert.equal((loadFresh(dir)).cache, 'hit');

  writeFileSync(path.join(dir, 'farm.config.mjs'), "export default { appName: 'plain' };\n");
  assert.equal((loadFresh(dir)).config.appName, 'plain');
  assert.equal((await loadConfig(dir, undefined, { cache: false })).cache, 'off');
});

test('a TypeScript config: the files Vite bundled are in the key; an edit of one is seen', async () => {
  assert.ok(existsSync(path.join(EXAMPLE, 'node_modules/vite')), 'the example app needs `npm ci` (for Vite)');
  const dir = project({
    'farm.config.ts': "import { web } from './farm/web';\nconst n: string = 'ts-app';\nexport default { appName: n, frontend: web };\n",
    'farm/web.ts': "export const web = { root: 'apps/one' };\n",
  });
  symlinkSync(path.join(EXAMPLE, 'node_modules'), path.join(dir, 'node_modules'));
  const first = await loadConfig(dir);
  assert.equal(first.cache, 'stored');
  assert.deepEqual(first.config, { appName: 'ts-app', frontend: { root: 'apps/one' } });
  assert.deepEqual(JSON.parse(readFileSync(entry(dir, 'farm.config.ts'), 'utf8')).deps, ['farm/web.ts']);
  const hit = await loadConfig(dir);
  assert.equal(hit.cache, 'hit');
  assert.deepEqual(hit.config, first.config);
  writeFileSync(path.join(dir, 'farm/web.ts'), "export const web = { root: 'apps/two' };\n");
  const edited = await loadConfig(dir);
  assert.equal(edited.cache, 'stored');
  assert.equal(edited.config.frontend.root, 'apps/two');
});

test('process.env.NAME is in the key by digest: a new value re-evaluates, the value is not stored', async () => {
  const dir = project({ 'farm.config.mjs': "export default { appName: 'env', version: process.env.FARM_TEST_CFG_VERSION ?? '0.0.1' };\n" });
  process.env.FARM_TEST_CFG_VERSION = '7.7.7-secret-looking';
  try {
    assert.equal((await loadConfig(dir)).cache, 'stored');
    const text = readFileSync(entry(dir, 'farm.config.mjs'), 'utf8');
    assert.ok(JSON.parse(text).key.env.FARM_TEST_CFG_VERSION, 'the name is in the key');
    assert.equal((await loadConfig(dir)).cache, 'hit');
    process.env.FARM_TEST_CFG_VERSION = '8.0.0';
    const changed = await loadConfig(dir);
    assert.equal(changed.cache, 'stored');
    assert.equal(changed.config.version, '8.0.0');
    delete process.env.FARM_TEST_CFG_VERSION;
    assert.equal((await loadConfig(dir)).config.version, '0.0.1');
  } finally {
    delete process.env.FARM_TEST_CFG_VERSION;
  }
});

test('not cached: plugin hooks, a possible secret, reads the key cannot cover, another cacheDir', async () => {
  const cases = {
    hooks: ["export default { appName: 'h', plugins: [{ name: 'p', preBuild() {} }] };\n", /hooks/],
    secret: ["export default { appName: 's', ai: { providers: { openai: { apiKey: 'sk-123', models: [] } } } };\n", /secret/],
    clock: ["export default { appName: 'c', version: `0.0.${new Date().getSeconds()}` };\n", /clock/],
    files: ["import { readFileSync } from 'node:fs';\nexport default { appName: readFileSync(new URL('./n.txt', import.meta.url), 'utf8').trim() };\n", /reads files/],
    envAll: ["const e = process.env;\nexport default { appName: e.X ?? 'x' };\n", /process\.env/],
    cacheDir: ["export default { appName: 'd', cacheDir: 'elsewhere' };\n", /cacheDir/],
  };
  for (const [name, [src, why]] of Object.entries(cases)) {
    const dir = project({ 'farm.config.mjs': src, 'n.txt': 'named\n' });
    const loaded = await loadConfig(dir);
    assert.match(loaded.cache, why, name);
    assert.equal(existsSync(entry(dir, 'farm.config.mjs')), false, `${name}: no entry`);
    assert.notEqual((await loadConfig(dir)).cache, 'hit', name);
  }
  const json = project({ 'farm.config.json': '{"appName":"j"}' });
  assert.equal((await loadConfig(json)).cache, 'off');
});
