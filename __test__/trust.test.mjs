// Cached == clean, and farm touches only its own outputs: regressions for what users saw, and a
// seeded random walk that compares every cached build with a --no-cache build of the same state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BuildOrchestrator } from '../js/index.mjs';
import { FARM, copyExample, project } from './helpers.mjs';

const farm = (cwd, args, env = {}) =>
  spawnSync(process.execPath, [FARM, ...args], { cwd, encoding: 'utf8', timeout: 300_000, env: { ...process.env, ...env } });
const json = (cwd, args, env) => {
  const r = farm(cwd, [...args, '--json'], env);
  assert.ok(r.stdout, `no JSON from farm ${args.join(' ')}:\n${r.stderr}`);
  return JSON.parse(r.stdout);
};
const byName = (res) => Object.fromEntries(res.tasks.map((t) => [t.name, t]));
const cacheOf = (res, task) => byName(res)[task]?.cache;

/** path → "mode sha256" (files), "link → target", "dir" for everything under `dir`. */
function snapshot(dir, { skip = new Set(), base = dir, out = {} } = {}) {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    const rel = path.relative(base, p).split(path.sep).join('/');
    if (skip.has(e.name) || skip.has(rel)) continue;
    const st = lstatSync(p);
    if (st.isSymbolicLink()) out[rel] = `link → ${readlinkSync(p)}`;
    else if (st.isDirectory()) {
      out[rel] = 'dir';
      snapshot(p, { skip, base, out });
    } else out[rel] = `${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
  }
  return out;
}

/** The first few keys where two snapshots differ, for messages. */
function diff(a, b) {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => a[k] !== b[k]).slice(0, 10).map((k) => `${k}: cached=${a[k] ?? '-'} clean=${b[k] ?? '-'}`);
}

/** A small seeded PRNG (mulberry32). */
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const SEED = Number(process.env.FARM_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`# cached==clean random walks: seed ${SEED} (rerun with FARM_TEST_SEED=${SEED})`);

// ---------------------------------------------------------------------------------------------
// Regressions (each failed before task descriptions and hermetic runs)

test('types owns only its generated file: an edit beside it is never reverted', () => {
  const dir = copyExample();
  const custom = path.join(dir, 'apps/web/src/types/custom.ts');
  writeFileSync(custom, 'export type Custom = { a: string };\n');
  let r = json(dir, ['build', '-t', 'typecheck', '--clear-cache']);
  assert.equal(r.success, true, JSON.stringify(r.error));
  writeFileSync(custom, 'export type Custom = { a: string; b: number };\n');
  r = json(dir, ['build', '-t', 'typecheck']);
  assert.equal(r.success, true, JSON.stringify(r.error));
  assert.equal(readFileSync(custom, 'utf8'), 'export type Custom = { a: string; b: number };\n', 'the user edit was reverted');
  assert.equal(cacheOf(r, 'types'), 'hit');
  assert.equal(cacheOf(r, 'typecheck'), 'miss', 'typecheck must see the edited file');
  rmSync(dir, { recursive: true, force: true });
});

test('backend: every file the copy takes is in the key (data, templates, ini)', () => {
  const dir = project({
    'farm.config.json': JSON.stringify({ appName: 'be', backend: { root: 'api', app: 'main:app', venv: false, generateTypes: false, tidyImports: false } }),
    'api/main.py': 'app = object()\n',
    'api/templates/index.html': '<p>v1</p>\n',
    'api/alembic.ini': '[alembic]\n',
    'api/tests/test_main.py': 'def test_x(): pass\n',
  });
  let r = json(dir, ['build']);
  assert.equal(r.success, true, JSON.stringify(r.error));
  assert.equal(cacheOf(r, 'backend'), 'miss');
  writeFileSync(path.join(dir, 'api/data.json'), '{"n": 1}\n');
  r = json(dir, ['build']);
  assert.equal(cacheOf(r, 'backend'), 'miss', 'a new data file must change the key');
  assert.equal(readFileSync(path.join(dir, 'dist/api/data.json'), 'utf8'), '{"n": 1}\n');
  writeFileSync(path.join(dir, 'api/templates/index.html'), '<p>v2</p>\n');
  r = json(dir, ['build']);
  assert.equal(cacheOf(r, 'backend'), 'miss', 'a template edit must change the key');
  assert.equal(readFileSync(path.join(dir, 'dist/api/templates/index.html'), 'utf8'), '<p>v2</p>\n');
  // Tests are not copied, so they are not in the key either.
  writeFileSync(path.join(dir, 'api/tests/test_main.py'), 'def test_y(): pass\n');
  r = json(dir, ['build']);
  assert.equal(cacheOf(r, 'backend'), 'hit', 'a test edit must not rebuild the backend');
  assert.ok(!existsSync(path.join(dir, 'dist/api/tests')));
  rmSync(dir, { recursive: true, force: true });
});

test('frontend key: workspace lockfile, postcss/tailwind configs, vite config imports, env files of the mode', () => {
  const dir = project({
    'farm.config.json': JSON.stringify({ appName: 'fe', frontend: { root: 'apps/web', typecheck: false } }),
    'package-lock.json': '{"lockfileVersion": 3}\n',
    'package.json': '{"name": "ws", "workspaces": ["apps/*"]}\n',
    '.gitignore': '.env*\nnode_modules\n',
    'shared/vite-base.ts': 'export default { base: "/" };\n',
    'apps/web/index.html': '<div id="root"></div>\n',
    'apps/web/package.json': '{"name": "web"}\n',
    'apps/web/vite.config.ts': 'import base from "../../shared/vite-base";\nexport default base;\n',
    'apps/web/src/main.ts': 'console.log(1);\n',
  });
  spawnSync('git', ['init', '-q'], { cwd: dir });
  const key = () => {
    const r = json(dir, ['build', '--dry-run']);
    return r.tasks.find((t) => t.name === 'frontend').key;
  };
  const seen = new Set([key()]);
  const changes = [
    ['the workspace lockfile', () => writeFileSync(path.join(dir, 'package-lock.json'), '{"lockfileVersion": 3, "packages": {}}\n')],
    ['a postcss config', () => writeFileSync(path.join(dir, 'apps/web/postcss.config.js'), 'export default {};\n')],
    ['a tailwind config', () => writeFileSync(path.join(dir, 'apps/web/tailwind.config.js'), 'export default {};\n')],
    ['a file the vite config imports from outside the app', () => appendFileSync(path.join(dir, 'shared/vite-base.ts'), '// v2\n')],
    ['a gitignored .env.production', () => writeFileSync(path.join(dir, 'apps/web/.env.production'), 'VITE_X=1\n')],
    ['a gitignored .env', () => writeFileSync(path.join(dir, 'apps/web/.env'), 'VITE_Y=1\n')],
    ['a source file', () => appendFileSync(path.join(dir, 'apps/web/src/main.ts'), 'console.log(2);\n')],
  ];
  for (const [what, change] of changes) {
    change();
    const k = key();
    assert.ok(!seen.has(k), `${what} must change the frontend key`);
    seen.add(k);
  }
  // What the build does not read leaves the key alone.
  const before = key();
  writeFileSync(path.join(dir, 'apps/web/.env.development'), 'VITE_Z=1\n');
  mkdirSync(path.join(dir, 'dist/web'), { recursive: true });
  writeFileSync(path.join(dir, 'dist/web/x.js'), '1');
  mkdirSync(path.join(dir, 'apps/web/node_modules/x'), { recursive: true });
  writeFileSync(path.join(dir, 'apps/web/node_modules/x/index.js'), '1');
  assert.equal(key(), before, 'the development env file, outputs and node_modules are not inputs of a production build');
  rmSync(dir, { recursive: true, force: true });
});

test('a missed command task starts from empty outputs (no appending to the previous output)', () => {
  const dir = project({
    'farm.config.json': JSON.stringify({
      appName: 'gen',
      tasks: { gen: { command: 'mkdir -p out && for f in src/*.ts; do cat $f >> out/all.txt; done', inputs: ['src/**'], outputs: ['out'] } },
    }),
    'src/a.ts': 'a\n',
    'src/b.ts': 'b\n',
    'src/c.ts': 'c\n',
  });
  assert.equal(json(dir, ['build']).success, true);
  writeFileSync(path.join(dir, 'src/d.ts'), 'd\n');
  const r = json(dir, ['build']);
  assert.equal(cacheOf(r, 'gen'), 'miss');
  assert.equal(readFileSync(path.join(dir, 'out/all.txt'), 'utf8'), 'a\nb\nc\nd\n');
  assert.equal(json(dir, ['build', '--no-cache']).success, true);
  assert.equal(readFileSync(path.join(dir, 'out/all.txt'), 'utf8'), 'a\nb\nc\nd\n', '--no-cache must not append either');
  // A failed run leaves the previous good output in place.
  writeFileSync(path.join(dir, 'src/e.ts'), 'e\n');
  const cfg = JSON.parse(readFileSync(path.join(dir, 'farm.config.json'), 'utf8'));
  cfg.tasks.gen.command = 'mkdir -p out && echo partial > out/all.txt && exit 3';
  writeFileSync(path.join(dir, 'farm.config.json'), JSON.stringify(cfg));
  assert.equal(json(dir, ['build']).success, false);
  assert.equal(readFileSync(path.join(dir, 'out/all.txt'), 'utf8'), 'a\nb\nc\nd\n', 'a failed task must not leave its partial output');
  rmSync(dir, { recursive: true, force: true });
});

test('migrations run on a cache hit too', () => {
  const dir = project({
    'farm.config.json': JSON.stringify({
      appName: 'mig',
      backend: { root: 'api', app: 'main:app', venv: false, generateTypes: false, tidyImports: false, migrate: 'echo migrated >> "$MIGRATION_LOG"' },
      cache: { env: { backend: [] } },
    }),
    'api/main.py': 'app = object()\n',
  });
  const log = path.join(dir, 'migrations.log');
  let r = json(dir, ['build'], { MIGRATION_LOG: log });
  assert.equal(r.success, true, JSON.stringify(r.error));
  r = json(dir, ['build'], { MIGRATION_LOG: log });
  assert.equal(cacheOf(r, 'backend'), 'hit');
  assert.equal(readFileSync(log, 'utf8'), 'migrated\nmigrated\n');
  rmSync(dir, { recursive: true, force: true });
});

test('--verify-cache names the files that differ and the undeclared input', () => {
  const dir = project({
    'farm.config.json': JSON.stringify({
      appName: 'v',
      tasks: { gen: { command: 'mkdir -p out && cat src/a.txt extra/secret-input.txt > out/all.txt', inputs: ['src/**'], outputs: ['out'] } },
    }),
    'src/a.txt': 'a\n',
    'extra/secret-input.txt': 'one\n',
  });
  assert.equal(json(dir, ['build']).success, true);
  let r = json(dir, ['build', '--verify-cache']);
  assert.equal(r.success, true, 'an honest hit verifies');
  assert.equal(cacheOf(r, 'gen'), 'hit');
  writeFileSync(path.join(dir, 'extra/secret-input.txt'), 'two\n');
  r = json(dir, ['build', '--verify-cache']);
  assert.equal(r.success, false);
  const msg = byName(r).gen.message;
  assert.match(msg, /out\/all\.txt: contents differ/);
  assert.match(msg, /extra\/secret-input\.txt/);
  assert.equal(readFileSync(path.join(dir, 'out/all.txt'), 'utf8'), 'a\ntwo\n', 'the fresh output is kept');
  r = json(dir, ['build']);
  assert.equal(cacheOf(r, 'gen'), 'miss', 'the bad entry was dropped');
  rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Cached == clean, as a property

/** Builds in-process (fast enough for hundreds of steps); returns the result. */
async function buildIn(root, options = {}) {
  const orch = await BuildOrchestrator.fromProject(root);
  return orch.build(undefined, options);
}

/** Builds `root` with --no-cache from a clean state (no outputs), snapshots, and puts the cached outputs back. */
async function cleanSnapshot(root, outputs, take) {
  const holder = mkdtempSync(path.join(path.dirname(root), 'farm-aside-'));
  const aside = [];
  outputs.forEach((o, i) => {
    const p = path.join(root, o);
    if (existsSync(p)) {
      renameSync(p, path.join(holder, String(i)));
      aside.push([p, path.join(holder, String(i))]);
    }
  });
  const r = await buildIn(root, { noCache: true });
  const snap = take();
  for (const o of outputs) rmSync(path.join(root, o), { recursive: true, force: true });
  for (const [p, a] of aside) renameSync(a, p);
  rmSync(holder, { recursive: true, force: true });
  return { r, snap };
}

test('cached == clean: a seeded random walk over a command-task project', async () => {
  const steps = Number(process.env.FARM_PROPERTY_STEPS ?? 200);
  const rand = rng(SEED);
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const cmd = (variant) =>
    `mkdir -p out/parts && for f in src/*.txt; do cat "$f" >> out/all.txt; cp "$f" out/parts/; done; echo "$GREETING" > out/env.txt; echo ${variant} > out/variant.txt; if [ -f src/run.txt ]; then printf '#!/bin/sh\\n' > out/run.sh; chmod 755 out/run.sh; fi`;
  const config = (variant) => ({
    appName: 'walk',
    tasks: {
      gen: { command: cmd(variant), inputs: ['src/**'], outputs: ['out'], env: ['GREETING'] },
      pack: { command: 'mkdir -p pkg && ls out/parts > pkg/list.txt && wc -l < out/all.txt | tr -d " " > pkg/lines.txt', inputs: ['out/**'], outputs: ['pkg'], dependsOn: ['gen'] },
    },
  });
  const dir = project({ 'farm.config.json': JSON.stringify(config('v0')), 'src/a.txt': 'a\n', 'package-lock.json': '{}\n' });
  const take = () => snapshot(dir, { skip: new Set(['.farm', 'build-manifest.json']) });
  const env0 = process.env.GREETING;
  let n = 0;
  try {
    for (let step = 0; step < steps; step++) {
      const files = readdirSync(path.join(dir, 'src'));
      const op = pick(['add', 'edit', 'delete', 'lockfile', 'env', 'config', 'noop']);
      let what;
      if (op === 'add' || (op === 'delete' && files.length <= 1)) {
        const name = pick(['run.txt', `f${n++}.txt`, 'nested.md']);
        writeFileSync(path.join(dir, 'src', name), `${name} ${n}\n`);
        what = `add src/${name}`;
      } else if (op === 'edit') {
        const f = pick(files);
        appendFileSync(path.join(dir, 'src', f), `edit ${step}\n`);
        what = `edit src/${f}`;
      } else if (op === 'delete') {
        const f = pick(files);
        unlinkSync(path.join(dir, 'src', f));
        what = `delete src/${f}`;
      } else if (op === 'lockfile') {
        writeFileSync(path.join(dir, 'package-lock.json'), `{"v": ${step}}\n`);
        what = 'edit package-lock.json';
      } else if (op === 'env') {
        const v = pick([undefined, 'hello', 'bonjour']);
        if (v === undefined) delete process.env.GREETING;
        else process.env.GREETING = v;
        what = `GREETING=${v ?? '(unset)'}`;
      } else if (op === 'config') {
        const v = pick(['v0', 'v1', 'v2']);
        writeFileSync(path.join(dir, 'farm.config.json'), JSON.stringify(config(v)));
        what = `config variant ${v}`;
      } else what = 'no change';
      const cached = await buildIn(dir);
      assert.equal(cached.success, true, `seed ${SEED} step ${step} (${what}): ${JSON.stringify(cached.error)}`);
      const a = take();
      const { r, snap } = await cleanSnapshot(dir, ['out', 'pkg'], take);
      assert.equal(r.success, true, `seed ${SEED} step ${step}: clean build failed`);
      assert.deepEqual(diff(a, snap), [], `seed ${SEED} step ${step} (${what}): cached build differs from a clean one`);
    }
  } finally {
    if (env0 === undefined) delete process.env.GREETING;
    else process.env.GREETING = env0;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cached == clean: a seeded random walk over a copy of the example app', async () => {
  const steps = Number(process.env.FARM_EXAMPLE_STEPS ?? 6);
  const rand = rng(SEED ^ 0x5eed);
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const dir = copyExample();
  const skip = new Set(['node_modules', '.farm', '.venv', '.git', 'build-manifest.json', '__pycache__']);
  const take = () => snapshot(dir, { skip });
  const api = path.join(dir, 'apps/api');
  const web = path.join(dir, 'apps/web');
  const added = [];
  const env0 = process.env.VITE_FARM_WALK;
  const cfgFile = path.join(dir, 'farm.config.ts');
  const cfg0 = readFileSync(cfgFile, 'utf8');
  try {
    assert.equal((await buildIn(dir)).success, true);
    for (let step = 0; step < steps; step++) {
      const op = pick(['py-edit', 'py-data', 'web-file', 'web-edit', 'delete', 'lockfile', 'env', 'config']);
      let what = op;
      if (op === 'py-edit') appendFileSync(path.join(api, 'main.py'), `\nWALK_${step} = ${step}\n`);
      else if (op === 'py-data') {
        const f = path.join(api, `walk-${step}.json`);
        writeFileSync(f, `{"step": ${step}}\n`);
        added.push(f);
      } else if (op === 'web-file') {
        const f = path.join(web, `src/walk${step}.ts`);
        writeFileSync(f, `export const walk${step} = ${step};\n`);
        added.push(f);
      } else if (op === 'web-edit') appendFileSync(path.join(web, 'src/main.tsx'), `\nconsole.debug('walk ${step}');\n`);
      else if (op === 'delete' && added.length) {
        const f = added.splice(Math.floor(rand() * added.length), 1)[0];
        unlinkSync(f);
        what = `delete ${path.relative(dir, f)}`;
      } else if (op === 'lockfile') appendFileSync(path.join(dir, 'package-lock.json'), '\n');
      else if (op === 'env') process.env.VITE_FARM_WALK = String(step);
      else if (op === 'config') writeFileSync(cfgFile, cfg0.replace("version: '1.0.0'", `version: '1.0.${step}'`));
      const cached = await buildIn(dir);
      assert.equal(cached.success, true, `seed ${SEED} step ${step} (${what}): ${JSON.stringify(cached.error)}`);
      const a = take();
      const { r, snap } = await cleanSnapshot(dir, ['dist'], take);
      assert.equal(r.success, true, `seed ${SEED} step ${step}: clean build failed: ${JSON.stringify(r.error)}`);
      assert.deepEqual(diff(a, snap), [], `seed ${SEED} step ${step} (${what}): cached build differs from a clean one`);
    }
  } finally {
    if (env0 === undefined) delete process.env.VITE_FARM_WALK;
    else process.env.VITE_FARM_WALK = env0;
    rmSync(dir, { recursive: true, force: true });
  }
});
