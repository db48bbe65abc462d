// The backend task end to end: the production venv (real pip, the example's real requirements from
// PyPI), import tidying with ruff on the output copy only, migrations, and clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, readdirSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { FARM, REPO, copyExample, project, walk } from './helpers.mjs';

const sha = (buf) => createHash('sha256').update(buf).digest('hex');
const snapshot = (dir) => Object.fromEntries(walk(dir).map((f) => [f, sha(readFileSync(path.join(dir, f)))]));

/** A venv with ruff (from PyPI), shared with the Rust tests; its bin goes first on farm's PATH. */
function ruffBin() {
  const venv = path.join(REPO, 'target/farm-test-tools/ruff-venv');
  const py = path.join(venv, 'bin/python');
  const ok = () => spawnSync(py, ['-m', 'ruff', '--version']).status === 0;
  if (!ok()) {
    mkdirSync(path.dirname(venv), { recursive: true });
    assert.equal(spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' }).status, 0);
    assert.equal(spawnSync(py, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', 'ruff'], { stdio: 'inherit' }).status, 0);
  }
  assert.ok(ok(), 'ruff installed in the tool venv');
  return path.join(venv, 'bin');
}

const made = [];
process.on('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** `farm build --json` in `cwd`; returns the BuildResult (and the raw process). */
function build(cwd, { env = {}, args = [] } = {}) {
  if (!made.includes(cwd)) made.push(cwd);
  const r = spawnSync(process.execPath, [FARM, 'build', '--json', ...args], {
    cwd,
    encoding: 'utf8',
    timeout: 600_000,
    env: { ...process.env, ...env },
  });
  assert.ok(r.stdout.trim().startsWith('{'), `--json output:\n${r.stdout}\n${r.stderr}`);
  return { result: JSON.parse(r.stdout), proc: r };
}

const backendArtifact = (result) => result.artifacts.find((a) => a.type === 'backend-source');

test('example app: tidied bytecode copy, a working production venv reused while requirements do not change', () => {
  const dir = copyExample();
  const main = path.join(dir, 'apps/api/main.py');
  // an unused import the output copy must not have (the user's file keeps it)
  writeFileSync(main, readFileSync(main, 'utf8').replace('\n\nfrom fastapi', '\n\nimport os\nimport sys\n\nfrom fastapi'));
  assert.match(readFileSync(main, 'utf8'), /^import os$/m);
  const before = snapshot(path.join(dir, 'apps'));
  const PATH = `${ruffBin()}:${process.env.PATH}`;

  const { result, proc } = build(dir, { env: { PATH }, args: ['--target', 'backend', '--target', 'types'] });
  assert.equal(result.success, true, JSON.stringify(result.error) + proc.stderr);
  const api = path.join(dir, 'dist/api');
  const files = walk(api).filter((f) => !f.startsWith('.venv/'));
  assert.ok(files.includes('main.pyc') && files.includes('routers/users.pyc'), files.join('\n'));
  assert.ok(!files.some((f) => f.startsWith('tests/') || f.includes('__pycache__') || /(^|\/)test_[^/]*$/.test(f)), files.join('\n'));
  // ruff tidied the copy only
  const out = readFileSync(path.join(api, 'main.py'), 'utf8');
  assert.doesNotMatch(out, /^import (os|sys)$/m);
  assert.match(out, /^from fastapi import APIRouter, FastAPI$/m);
  assert.deepEqual(snapshot(path.join(dir, 'apps')), before, 'user sources are byte-identical');
  const art = backendArtifact(result);
  assert.ok(art.metadata.importFixes >= 2, JSON.stringify(art.metadata));
  assert.ok(result.tasks.find((t) => t.name === 'backend'));

  // the production venv runs the app's dependencies from the output
  const vpy = path.join(api, '.venv/bin/python');
  const imp = spawnSync(vpy, ['-c', 'import fastapi, pydantic, uvicorn, sys; print(sys.prefix)'], { cwd: api, encoding: 'utf8' });
  assert.equal(imp.status, 0, imp.stderr);
  assert.equal(imp.stdout.trim(), path.join(api, '.venv'));
  const app = spawnSync(vpy, ['-c', 'import main; print(len(main.app.routes))'], { cwd: api, encoding: 'utf8' });
  assert.equal(app.status, 0, app.stderr);
  const uvicorn = spawnSync(path.join(api, '.venv/bin/uvicorn'), ['--version'], { encoding: 'utf8' });
  assert.equal(uvicorn.status, 0, uvicorn.stderr);
  assert.match(uvicorn.stdout, /Running uvicorn 0\.54\.0/);
  assert.equal(art.metadata.venv, 'api/.venv');
  // copies share the venv cache (helpers.mjs), so the first build may already reuse one
  assert.equal(typeof art.metadata.venvReused, 'boolean');
  assert.equal(art.metadata.installer, 'pip');
  const reqs = readFileSync(path.join(dir, 'apps/api/requirements.txt'), 'utf8').split('\n').filter((l) => l.trim());
  assert.ok(art.metadata.dependencyCount >= reqs.length, `dependencyCount ${art.metadata.dependencyCount}`);

  // openapi.json (the types task) has every route
  const schema = result.artifacts.find((a) => a.type === 'openapi-schema');
  const openapi = JSON.parse(readFileSync(path.join(dir, schema.path), 'utf8'));
  for (const route of ['/health', '/api/users', '/api/users/{user_id}', '/api/items', '/api/ai/chat', '/api/ai/models']) {
    assert.ok(openapi.paths[route], `route ${route}`);
  }

  // second build, unchanged requirements: the cached venv is reused, pip does not run
  const venvs = path.join(dir, '.farm/cache/venvs');
  const marker = path.join(venvs, art.metadata.venvKey, '.farm-venv.json');
  const mtime = lstatSync(marker).mtimeMs;
  const sitePackages = readdirSync(path.join(venvs, art.metadata.venvKey, 'lib'));
  const venvsBefore = readdirSync(venvs).filter((n) => !n.endsWith('.lock')).sort();
  // --no-cache: the backend builder itself runs again (a cache hit would not run it at all)
  const second = build(dir, { env: { PATH }, args: ['--target', 'backend', '--no-cache'] }).result;
  assert.equal(second.success, true, JSON.stringify(second.error));
  const art2 = backendArtifact(second);
  assert.equal(art2.metadata.venvReused, true);
  assert.equal(art2.metadata.venvKey, art.metadata.venvKey);
  assert.equal(art2.metadata.dependencyCount, art.metadata.dependencyCount);
  assert.ok(lstatSync(marker).mtimeMs >= mtime);
  assert.deepEqual(readdirSync(path.join(venvs, art.metadata.venvKey, 'lib')), sitePackages);
  assert.deepEqual(readdirSync(venvs).filter((n) => !n.endsWith('.lock')).sort(), venvsBefore, 'no second venv, no leftovers');
  assert.ok(venvsBefore.includes(art.metadata.venvKey));
  assert.equal(spawnSync(vpy, ['-c', 'import fastapi'], { cwd: api }).status, 0);
});

/** A small app: `files` under apps/api, config `backend` merged in. */
function smallApp(files, backend) {
  const f = { 'farm.config.json': JSON.stringify({ appName: 'small', backend: { root: 'apps/api', ...backend } }) };
  for (const [k, v] of Object.entries(files)) f[`apps/api/${k}`] = v;
  return project(f);
}

test('an app that does not import: the build fails with Python\'s traceback', () => {
  const dir = smallApp({ 'main.py': 'import json\nimport farm_no_such_module\n\napp = None\n', 'requirements.txt': '' }, { tidyImports: false });
  const { result, proc } = build(dir);
  assert.equal(result.success, false);
  assert.equal(proc.status, 1);
  assert.equal(result.error.code, 'TASK_FAILED');
  assert.equal(result.error.task, 'backend');
  assert.match(result.error.message, /does not import `main` with the production venv/);
  assert.match(result.error.message, /Traceback \(most recent call last\)/);
  assert.match(result.error.message, /ModuleNotFoundError: No module named 'farm_no_such_module'/);
  assert.match(result.error.message, /dist\/api\/main\.py/, 'names the output path, not a staging dir');
  assert.ok(!existsSync(path.join(dir, 'dist/api')), 'no half-written output');

  // without a venv, the types task (which imports the app to export OpenAPI) gives the traceback
  const dir2 = smallApp({ 'main.py': 'import farm_no_such_module\napp = None\n' }, { tidyImports: false, generateTypes: true });
  const r2 = build(dir2).result;
  assert.equal(r2.success, false);
  assert.equal(r2.error.task, 'types');
  assert.match(r2.error.message, /Traceback[\s\S]*ModuleNotFoundError: No module named 'farm_no_such_module'/);
});

test('a failing migration fails the build; with failOnMigrationError: false it is a warning', () => {
  const migrate = 'echo "migrating in $(pwd)"; echo "relation \\"users\\" does not exist" >&2; exit 4';
  const files = { 'main.py': 'app = None\n', 'alembic.ini': '[alembic]\n' };
  const dir = smallApp(files, { venv: false, tidyImports: false, migrate });
  const { result } = build(dir);
  assert.equal(result.success, false);
  assert.equal(result.error.task, 'backend');
  assert.match(result.error.message, /migration `.*` failed \(exit 4\)/);
  assert.match(result.error.message, /relation "users" does not exist/);
  assert.match(result.error.message, /migrating in .*\/dist\/api$/m, 'runs in the output copy');
  assert.ok(!existsSync(path.join(dir, 'dist/api')));

  const dir2 = smallApp(files, { venv: false, tidyImports: false, migrate, failOnMigrationError: false });
  const r2 = build(dir2).result;
  assert.equal(r2.success, true, JSON.stringify(r2.error));
  assert.ok(r2.warnings.some((w) => /^backend: migration .* failed \(exit 4\)/.test(w) && w.includes('relation "users" does not exist')), r2.warnings.join('\n'));
  assert.ok(existsSync(path.join(dir2, 'dist/api/main.pyc')));
  assert.ok(!existsSync(path.join(dir2, 'apps/api/main.pyc')));

  // a migration that succeeds runs with the production venv on PATH
  const dir3 = smallApp({ 'main.py': 'app = None\n', 'requirements.txt': '' }, { tidyImports: false, migrate: 'python -c "import sys; print(sys.prefix)" > prefix.txt' });
  const r3 = build(dir3).result;
  assert.equal(r3.success, true, JSON.stringify(r3.error));
  // (the migration runs before the staging copy is moved into place, so the prefix is under dist/)
  const prefix = readFileSync(path.join(dir3, 'dist/api/prefix.txt'), 'utf8').trim();
  assert.ok(prefix.startsWith(path.join(dir3, 'dist') + '/') && prefix.endsWith('/.venv'), prefix);
  assert.equal(backendArtifact(r3).metadata.dependencyCount, 0);
});

test('config: the new backend keys are validated', () => {
  const bad = smallApp({ 'main.py': 'app = None\n' }, { installer: 'conda' });
  made.push(bad);
  const r = spawnSync(process.execPath, [FARM, 'build', '--json'], { cwd: bad, encoding: 'utf8' });
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /backend\.installer/);
  const bad2 = smallApp({ 'main.py': 'app = None\n' }, { migrate: '  ' });
  made.push(bad2);
  const r2 = spawnSync(process.execPath, [FARM, 'build', '--json'], { cwd: bad2, encoding: 'utf8' });
  assert.equal(r2.status, 2);
  assert.match(r2.stdout + r2.stderr, /backend\.migrate/);
});

/** A venv with uv (from PyPI); its bin is put on farm's PATH by the test that wants uv. */
function uvBin() {
  const venv = path.join(REPO, 'target/farm-test-tools/uv-venv');
  const uv = path.join(venv, 'bin/uv');
  if (spawnSync(uv, ['--version']).status !== 0) {
    mkdirSync(path.dirname(venv), { recursive: true });
    assert.equal(spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' }).status, 0);
    assert.equal(spawnSync(path.join(venv, 'bin/python'), ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', 'uv'], { stdio: 'inherit' }).status, 0);
  }
  return path.join(venv, 'bin');
}

test('installer: auto picks uv when it is on PATH; "uv" without uv is a clear error', () => {
  const files = { 'main.py': 'import six\napp = None\n', 'requirements.txt': 'six==1.16.0\n' };
  const dir = smallApp(files, { tidyImports: false });
  const PATH = `${uvBin()}:${process.env.PATH}`;
  const { result } = build(dir, { env: { PATH } });
  assert.equal(result.success, true, JSON.stringify(result.error));
  const art = backendArtifact(result);
  assert.equal(art.metadata.installer, 'uv');
  assert.equal(art.metadata.dependencyCount, 1);
  const api = path.join(dir, 'dist/api');
  assert.equal(spawnSync(path.join(api, '.venv/bin/python'), ['-c', 'import six'], { cwd: api }).status, 0);

  const noUv = process.env.PATH.split(':').filter((d) => !existsSync(path.join(d, 'uv'))).join(':');
  const dir2 = smallApp(files, { tidyImports: false, installer: 'uv' });
  const r2 = build(dir2, { env: { PATH: noUv } }).result;
  assert.equal(r2.success, false);
  assert.match(r2.error.message, /backend\.installer is "uv" but `uv` is not on PATH/);
});
