// The backend task end to end: the production venv (real pip, the example's real requirements from
// PyPI), import tidying with ruff on the output copy only, migrations, and clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, readdirSync, lstatSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
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
  // `installer: auto` takes uv when it is on PATH (CI installs it), else pip.
  const uvOnPath = process.env.PATH.split(':').some((d) => existsSync(path.join(d, 'uv')));
  assert.equal(art.metadata.installer, uvOnPath ? 'uv' : 'pip');
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

/** Shares the production-venv cache of the test run with `dir` (as copyExample does). */
function shareVenvs(dir) {
  const venvs = path.join(os.tmpdir(), `farm-test-venvs-${process.getuid?.() ?? 0}`);
  mkdirSync(venvs, { recursive: true });
  mkdirSync(path.join(dir, '.farm/cache'), { recursive: true });
  symlinkSync(venvs, path.join(dir, '.farm/cache/venvs'));
}

/** Files under `dir` (not following links) whose content holds one of `needles`. */
function filesHolding(dir, needles) {
  const hits = [];
  for (const f of walk(dir, dir, { links: false })) {
    const text = readFileSync(path.join(dir, f), 'latin1');
    for (const n of needles) if (text.includes(n)) hits.push(`${f}: ${n}`);
  }
  return hits;
}

const EXAMPLE_REQS = readFileSync(path.join(REPO, 'examples/farm-app/apps/api/requirements.txt'), 'utf8');

test('envFile: pydantic-settings reads ../.env; the import check and the OpenAPI export get it, nothing leaks', () => {
  const secrets = { DATABASE_URL: 'postgres://farm:Pw-7781@db:5432/app', API_TOKEN: 'tok_8d1f2c9e', JWT_SECRET: 'jwt s3cret with spaces' };
  const settings = `from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file="../.env", extra="ignore")

    database_url: str
    api_token: str
    jwt_secret: str


settings = Settings()
print(f"settings loaded: {settings.database_url} token={settings.api_token}")
`;
  const main = `from fastapi import FastAPI

from settings import settings

app = FastAPI(title="adopt")


@app.get("/health")
def health() -> dict:
    return {"ok": True, "secure": len(settings.jwt_secret) > 8}
`;
  const dotenv = `# local settings, never committed
export DATABASE_URL="${secrets.DATABASE_URL}"
API_TOKEN='${secrets.API_TOKEN}'
JWT_SECRET="jwt s3cret with spaces"   # quoted, with a comment
`;
  const config = (backend) => JSON.stringify({ appName: 'adopt', backend: { root: 'backend', tidyImports: false, generateTypes: true, ...backend } });
  const dir = project({
    'farm.config.json': config({}),
    '.env': dotenv,
    'backend/main.py': main,
    'backend/settings.py': settings,
    'backend/requirements.txt': EXAMPLE_REQS,
  });
  shareVenvs(dir);
  // today's failure: the import check runs in dist/api, where ../.env is not there
  const { result: r0 } = build(dir);
  assert.equal(r0.success, false);
  assert.equal(r0.error.task, 'backend');
  assert.match(r0.error.message, /Field required/);
  assert.match(r0.error.message, /backend\.envFile/, 'the error says how to give the settings');

  writeFileSync(path.join(dir, 'farm.config.json'), config({ envFile: '../.env' }));
  const { result, proc } = build(dir);
  assert.equal(result.success, true, JSON.stringify(result.error) + proc.stderr);
  const schema = result.artifacts.find((a) => a.type === 'openapi-schema');
  const openapi = JSON.parse(readFileSync(path.join(dir, schema.path), 'utf8'));
  assert.ok(openapi.paths['/health'], Object.keys(openapi.paths).join(','));
  assert.equal(openapi.info.title, 'adopt');
  assert.ok(existsSync(path.join(dir, 'dist/api/.venv/bin/python')));
  assert.ok(!existsSync(path.join(dir, 'dist/api/.env')) && !existsSync(path.join(dir, 'dist/.env')));

  // a cache hit replays the logs; the JSON and both runs' output stay clean
  const again = build(dir);
  assert.equal(again.result.success, true, JSON.stringify(again.result.error));
  assert.deepEqual(again.result.tasks.map((t) => [t.name, t.cache]), [['backend', 'hit'], ['types', 'hit']]);
  const needles = [...Object.values(secrets), 'Pw-7781', 's3cret'];
  for (const [what, text] of [['stdout', proc.stdout], ['stderr', proc.stderr], ['stdout (hit)', again.proc.stdout], ['stderr (hit)', again.proc.stderr]]) {
    for (const n of needles) assert.ok(!text.includes(n), `${n} in the ${what}`);
  }
  assert.deepEqual(filesHolding(path.join(dir, 'dist'), needles), []);
  assert.deepEqual(filesHolding(path.join(dir, '.farm'), needles), []);
  // the values reached the app: its print is in the task logs the cache keeps, redacted
  assert.ok(filesHolding(path.join(dir, '.farm'), ['settings loaded: *** token=***']).length > 0, 'the redacted log line is cached');

  // a missing env file (CI, where .env is not committed): the settings come from the process env,
  // and without them the failure says that the file was not there
  rmSync(path.join(dir, '.env'));
  const fromEnv = spawnSync(process.execPath, [FARM, 'build', '--json', '--no-cache'], {
    cwd: dir, encoding: 'utf8', env: { ...process.env, DATABASE_URL: secrets.DATABASE_URL, API_TOKEN: secrets.API_TOKEN, JWT_SECRET: 'jwt s3cret from the env' },
  });
  assert.equal(fromEnv.status, 0, fromEnv.stdout + fromEnv.stderr);
  const noVars = spawnSync(process.execPath, [FARM, 'build', '--json', '--no-cache'], { cwd: dir, encoding: 'utf8' });
  assert.equal(noVars.status, 1, noVars.stdout + noVars.stderr);
  const { error } = JSON.parse(noVars.stdout);
  assert.match(error.message, /Field required/);
  assert.match(error.message, /backend\.envFile \S*\.env does not exist/, 'the missing env file is named');
});

test('pyproject.toml without requirements.txt: pip installs [project.dependencies], the types export uses that production venv', () => {
  const deps = EXAMPLE_REQS.split('\n').filter((l) => l.trim()).map((l) => JSON.stringify(l.trim()));
  const dir = project({
    'farm.config.json': JSON.stringify({ appName: 'pyproj', backend: { root: 'api', tidyImports: false, generateTypes: true } }),
    'api/pyproject.toml': `[project]\nname = "api"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = [${deps.join(', ')}]\n`,
    'api/main.py': 'from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get("/ping")\ndef ping() -> str:\n    return "pong"\n',
  });
  shareVenvs(dir);
  const noUv = process.env.PATH.split(':').filter((d) => !existsSync(path.join(d, 'uv'))).join(':');
  const { result, proc } = build(dir, { env: { PATH: noUv } });
  assert.equal(result.success, true, JSON.stringify(result.error) + proc.stderr);
  const art = backendArtifact(result);
  assert.equal(art.metadata.installer, 'pip');
  assert.ok(art.metadata.dependencyCount >= deps.length, JSON.stringify(art.metadata));
  const schema = result.artifacts.find((a) => a.type === 'openapi-schema');
  assert.ok(JSON.parse(readFileSync(path.join(dir, schema.path), 'utf8')).paths['/ping']);
  assert.ok(!existsSync(path.join(dir, '.venv')) && !existsSync(path.join(dir, 'api/.venv')), 'no dev venv was needed');
  assert.ok(!existsSync(path.join(dir, 'api/requirements.txt')), 'nothing written into the sources');
});

test('pyproject.toml + uv.lock: the lock pins the production venv (uv export)', () => {
  const PATH = `${uvBin()}:${process.env.PATH}`;
  const dir = project({
    'farm.config.json': JSON.stringify({ appName: 'locked', backend: { root: 'api', tidyImports: false, extras: ['prod'] } }),
    'api/pyproject.toml': '[project]\nname = "api"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = ["six>=1.15"]\n\n[project.optional-dependencies]\nprod = ["idna>=3"]\ndev = ["packaging"]\n',
    'api/main.py': 'import idna\nimport six\n\napp = None\n',
  });
  // pin older versions than the ranges allow today, so the venv shows the lock won
  const lock = spawnSync('uv', ['lock', '--quiet', '--resolution', 'lowest-direct'], { cwd: path.join(dir, 'api'), encoding: 'utf8', env: { ...process.env, PATH } });
  assert.equal(lock.status, 0, lock.stderr);
  const { result } = build(dir, { env: { PATH } });
  assert.equal(result.success, true, JSON.stringify(result.error));
  const art = backendArtifact(result);
  assert.equal(art.metadata.installer, 'uv');
  assert.equal(art.metadata.dependencyCount, 2, JSON.stringify(art.metadata));
  const py = path.join(dir, 'api/../dist/api/.venv/bin/python');
  const v = spawnSync(py, ['-c', 'import importlib.metadata as m; print(m.version("six"), m.version("idna"))'], { encoding: 'utf8' });
  assert.equal(v.status, 0, v.stderr);
  assert.equal(v.stdout.trim(), '1.15.0 3.0', 'the locked (lowest) versions, not the newest');
  assert.notEqual(spawnSync(py, ['-c', 'import packaging'], { encoding: 'utf8' }).status, 0, 'no other extras');

  // a dependency added without re-locking is not silently left out of the venv
  const pp = path.join(dir, 'api/pyproject.toml');
  writeFileSync(pp, readFileSync(pp, 'utf8').replace('"six>=1.15"', '"six>=1.15", "certifi"'));
  const r2 = build(dir, { env: { PATH } }).result;
  assert.equal(r2.success, false);
  assert.match(r2.error.message, /api\/uv\.lock is out of date with .*api\/pyproject\.toml: pyproject\.toml requires certifi but uv\.lock does not\. Fix: run `uv lock`/);
});

test('requires-python / .python-version that the interpreter does not meet: a clear error, not a SyntaxError', () => {
  // the interpreter itself, not a version manager's shim (which would follow .python-version)
  const probe = spawnSync('python3', ['-c', 'import sys; print(sys.version_info[0], sys.version_info[1], sys.executable)'], { encoding: 'utf8', cwd: os.tmpdir() });
  const [major, minor, exe] = probe.stdout.trim().split(' ');
  const want = `${major}.${Number(minor) + 1}`;
  const esc = (t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const dir = smallApp({
    'main.py': 'type Point = tuple[float, float]\n\n\ndef first[T](xs: list[T]) -> T:\n    return xs[0]\n\n\napp = None\n',
    'pyproject.toml': `[project]\nname = "api"\nrequires-python = ">=${want}"\n`,
  }, { tidyImports: false, python: exe });
  const { result } = build(dir);
  assert.equal(result.success, false);
  assert.equal(result.error.task, 'backend');
  const m = result.error.message;
  assert.match(m, new RegExp(`Python ${major}\\.${minor}\\.\\d+ \\(\`${esc(exe)}\`\\) does not satisfy requires-python ">=${esc(want)}" in apps/api/pyproject\\.toml`));
  assert.match(m, /backend\.python/);
  assert.doesNotMatch(m, /SyntaxError/);

  writeFileSync(path.join(dir, 'apps/api/pyproject.toml'), '[project]\nname = "api"\n');
  writeFileSync(path.join(dir, '.python-version'), `${want}\n`);
  const r2 = build(dir).result;
  assert.equal(r2.success, false);
  assert.match(r2.error.message, new RegExp(`Python ${major}\\.${minor}\\.\\d+ \\(\`${esc(exe)}\`\\) is not the Python ${esc(want)} that \\.python-version asks for`));
  assert.match(r2.error.message, /backend\.python/);
});
