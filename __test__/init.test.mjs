// `farm init` on three layouts made here: a copy of the example, a full-stack-template-like repo
// (backend/app/main.py, settings from ../.env, pyproject + uv.lock, Postgres drivers, frontend/
// with its own node_modules) and a frontend-only repo. The written config is what is expected,
// and for the example and the frontend-only repo `farm build` goes green with it as written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FARM, EXAMPLE, copyExample, project } from './helpers.mjs';
import { loadConfig, validateConfig } from '../js/index.mjs';
import { sanitizeName } from '../js/detect.mjs';

const farm = (cwd, ...args) => spawnSync(process.execPath, [FARM, ...args], { cwd, encoding: 'utf8', timeout: 240_000 });

/** Runs `farm init` in `dir` and loads the config it wrote (through the same loader as `farm build`). */
async function init(dir) {
  const r = farm(dir, 'init');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const text = readFileSync(path.join(dir, 'farm.config.ts'), 'utf8');
  const { config } = await loadConfig(dir);
  validateConfig(config, 'farm.config.ts');
  return { r, text, config };
}

test('farm init on a copy of the example: the config it writes builds green as it is', async () => {
  const dir = copyExample();
  rmSync(path.join(dir, 'farm.config.ts'));
  const { r, text, config } = await init(dir);
  assert.deepEqual(config, {
    appName: 'farm-app',
    frontend: { root: 'apps/web' },
    backend: { root: 'apps/api', app: 'main:app' },
    docker: { build: false, database: 'none' },
  });
  assert.match(text, /^import type \{ FarmConfig \} from '@farm\/build-native';$/m);
  assert.match(text, /appName: 'farm-app', \/\/ package\.json "name"/);
  assert.match(text, /`app = FastAPI\(\.\.\.\)` in apps\/api\/main\.py/);
  assert.match(text, /database: 'none', \/\/ no MongoDB or PostgreSQL driver in the dependencies/);
  assert.match(r.stdout, /backend +apps\/api · app main:app \(apps\/api\/main\.py\)/);
  assert.match(r.stdout, /packages +npm \(package-lock\.json\)/);

  const b = farm(dir, 'build');
  assert.equal(b.status, 0, b.stdout + b.stderr);
  for (const task of ['backend', 'types', 'typecheck', 'frontend', 'docker']) assert.match(b.stdout, new RegExp(`✓ ${task}\\b`), task);
  assert.ok(existsSync(path.join(dir, 'dist/web/index.html')));
  assert.ok(existsSync(path.join(dir, 'dist/api/main.pyc')));
  const compose = readFileSync(path.join(dir, 'dist/docker-compose.yml'), 'utf8');
  assert.doesNotMatch(compose, /mongo|postgres/i, 'no database service for an app without a driver');

  // An existing config is never overwritten without --force.
  const before = readFileSync(path.join(dir, 'farm.config.ts'), 'utf8');
  writeFileSync(path.join(dir, 'farm.config.ts'), `${before}// mine\n`);
  const again = farm(dir, 'init');
  assert.equal(again.status, 2);
  assert.match(again.stderr, /farm\.config\.ts already exists .*--force/);
  assert.match(readFileSync(path.join(dir, 'farm.config.ts'), 'utf8'), /\/\/ mine\n$/);
  assert.equal(farm(dir, 'init', '--force').status, 0);
  assert.equal(readFileSync(path.join(dir, 'farm.config.ts'), 'utf8'), before);
});

const PYPROJECT = `[project]
name = "app"
version = "0.1.0"
requires-python = ">=3.10,<4.0"
dependencies = [
    "fastapi[standard]<1.0.0,>=0.114.2",
    "pydantic-settings<3.0.0,>=2.2.1",
    "sqlmodel<1.0.0,>=0.0.21",
    "psycopg[binary]<4.0.0,>=3.1.13",
    "alembic<2.0.0,>=1.12.1",
]

[project.optional-dependencies]
redis = ["redis>=5"]
test = ["pytest<8.0.0,>=7.4.3"]

[tool.uv]
dev-dependencies = ["mypy<2.0.0,>=1.8.0"]
`;

// The settings module of the full-stack fixture (pydantic-settings reading ../.env).
const CONFIG_PY = readFileSync(path.join(import.meta.dirname, 'fixtures/fullstack/backend/app/core/config.py'), 'utf8');

test('farm init on a full-stack layout: backend/app/main.py, ../.env, pyproject + uv.lock, Postgres', async () => {
  const dir = project({
    'backend/pyproject.toml': PYPROJECT,
    'backend/uv.lock': 'version = 1\nrequires-python = ">=3.10, <4.0"\n',
    'backend/app/__init__.py': '',
    'backend/app/main.py': 'from fastapi import FastAPI\n\nfrom app.core.config import settings\n\napp = FastAPI(title=settings.PROJECT_NAME)\n',
    'backend/app/core/__init__.py': '',
    'backend/app/core/config.py': CONFIG_PY,
    // A test file that builds its own app is not the app.
    'backend/app/tests/test_main.py': 'from fastapi import FastAPI\n\ntest_app = FastAPI()\n',
    '.env': 'PROJECT_NAME=demo\nPOSTGRES_SERVER=localhost\nPOSTGRES_PASSWORD=changethis\n',
    'frontend/package.json': '{ "name": "frontend", "private": true, "type": "module" }\n',
    'frontend/package-lock.json': '{ "lockfileVersion": 3 }\n',
    'frontend/vite.config.ts': "import { defineConfig } from 'vite';\nexport default defineConfig({});\n",
    'frontend/index.html': '<!doctype html><div id="root"></div>\n',
  });
  // Vite is installed in frontend/ only: the config loader finds it there.
  symlinkSync(path.join(EXAMPLE, 'node_modules'), path.join(dir, 'frontend/node_modules'));
  const { r, text, config } = await init(dir);
  assert.deepEqual(config, {
    appName: sanitizeName(path.basename(dir)),
    frontend: { root: 'frontend' },
    backend: { root: 'backend', app: 'app.main:app', installer: 'uv', extras: ['redis'], envFile: '../.env' },
    docker: { build: false, database: 'postgres', postgres: { urlScheme: 'postgresql+psycopg' } },
  });
  assert.match(text, /envFile: '\.\.\/\.env', \/\/ read by the settings in backend\/app\/core\/config\.py/);
  assert.match(text, /installer: 'uv', \/\/ uv\.lock/);
  assert.match(text, /left out: test/);
  assert.match(text, /database: 'postgres', \/\/ psycopg in the dependencies/);
  assert.match(r.stdout, /env file +\.\.\/\.env \(read by backend\/app\/core\/config\.py\)/);
  assert.match(r.stdout, /packages +npm \(frontend\/package-lock\.json\)/);
  assert.doesNotMatch(text, /changethis/, 'no value of the env file lands in the config');
});

// The "done when": a FastAPI + Vite repo shaped like full-stack-fastapi-template
// (backend/app/main.py, settings from ../.env, pyproject.toml pinned by a real uv.lock, SQLModel +
// psycopg) builds with `farm init && farm build` and nothing else. Needs uv (`.ci/run` installs it).
test('farm init && farm build on the full-stack fixture (pyproject + uv.lock + Postgres): green as written', async () => {
  const uv = spawnSync('uv', ['--version'], { encoding: 'utf8' });
  assert.equal(uv.status, 0, 'uv is required for this test (pip install uv); .ci/run installs it');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'farm-init-fullstack-'));
  cpSync(path.join(import.meta.dirname, 'fixtures/fullstack'), dir, { recursive: true });
  symlinkSync(path.join(EXAMPLE, 'node_modules'), path.join(dir, 'frontend/node_modules'));
  const { config } = await init(dir);
  assert.deepEqual(config.backend, { root: 'backend', app: 'app.main:app', installer: 'uv', envFile: '../.env' });
  assert.equal(config.docker.database, 'postgres');

  const b = farm(dir, 'build');
  assert.equal(b.status, 0, b.stdout + b.stderr);
  for (const task of ['backend', 'types', 'typecheck', 'frontend', 'docker']) assert.match(b.stdout, new RegExp(`✓ ${task}\\b`), task);
  assert.ok(existsSync(path.join(dir, 'dist/api/app/main.pyc')), 'compiled backend');
  assert.ok(!existsSync(path.join(dir, 'dist/api/app/tests')), 'no tests in the output');
  // The production venv has the locked dependencies: the app imports in it (the import check did).
  const lock = readFileSync(path.join(dir, 'backend/uv.lock'), 'utf8');
  const locked = lock.match(/name = "sqlmodel"\nversion = "([^"]+)"/)[1];
  const venvPy = path.join(dir, 'dist/api/.venv/bin/python');
  const v = spawnSync(venvPy, ['-c', 'import importlib.metadata as m; print(m.version("sqlmodel"))'], { encoding: 'utf8' });
  assert.equal(v.stdout.trim(), locked, v.stderr);
  const openapi = JSON.parse(readFileSync(path.join(dir, 'dist/openapi/openapi.json'), 'utf8'));
  assert.equal(openapi.info.title, 'Full Stack FastAPI Project', 'the settings came from ../.env');
  assert.ok(openapi.paths['/api/v1/items/'], 'the router is in the exported schema');
  const compose = readFileSync(path.join(dir, 'dist/docker-compose.yml'), 'utf8');
  assert.match(compose, /postgres/);
  assert.doesNotMatch(compose, /mongo/);
  // No value of the env file lands in the outputs.
  const out = spawnSync('grep', ['-rlF', 'changethis', path.join(dir, 'dist'), path.join(dir, '.farm')], { encoding: 'utf8' });
  assert.equal(out.stdout, '', 'a secret of ../.env was copied into an output or the cache');
});

test('farm init on a frontend-only repo: the config it writes builds green as it is', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'farm-init-web-'));
  cpSync(path.join(EXAMPLE, 'apps/web'), dir, { recursive: true, filter: (src) => !/node_modules|dist$/.test(src) });
  symlinkSync(path.join(EXAMPLE, 'node_modules'), path.join(dir, 'node_modules'));
  const { r, text, config } = await init(dir);
  assert.deepEqual(config, { appName: 'farm-app-web', version: '1.0.0', frontend: { root: '.' } });
  assert.doesNotMatch(text, /backend|docker/);
  assert.match(r.stdout, /backend +none/);
  assert.match(r.stdout, /no npm, pnpm, yarn or bun lockfile/);

  const b = farm(dir, 'build');
  assert.equal(b.status, 0, b.stdout + b.stderr);
  assert.match(b.stdout, /✓ frontend/);
  assert.match(b.stdout, /✓ typecheck/);
  assert.ok(existsSync(path.join(dir, 'dist/web/index.html')));
});

test('farm build without a config suggests farm init; farm init reports what it could not decide', () => {
  const empty = project({ 'README.md': '# nothing here\n' });
  const b = farm(empty, 'build');
  assert.equal(b.status, 2);
  assert.match(b.stderr, /no config found .*Fix: run `npx farm init`/);
  const both = project({
    'api/main.py': 'from fastapi import FastAPI\napp = FastAPI()\n',
    'api/requirements.txt': 'fastapi\nmotor==3.6.0\nasyncpg\n',
    'api/requirements-dev.txt': 'pytest\n',
  });
  const r = farm(both, 'init', '--dry-run');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /database: 'none', \/\/ both MongoDB and PostgreSQL drivers found/);
  assert.match(r.stdout, /farm init could not decide:\n(  \/\/ - .*\n)*  \/\/ - both MongoDB \(motor\) and PostgreSQL \(asyncpg\) drivers/);
  assert.match(r.stdout, /several requirements files in api \(requirements-dev\.txt, requirements\.txt\): using requirements\.txt/);
  assert.ok(!existsSync(path.join(both, 'farm.config.ts')), '--dry-run writes nothing');
});
