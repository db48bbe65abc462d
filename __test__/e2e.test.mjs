// End to end: `farm build` on a copy of examples/farm-app, with real Vite, tsc and Python.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { FARM, copyExample, walk, processesMatching, processesIn, sleep } from './helpers.mjs';

const farm = (cwd, ...args) => spawnSync(process.execPath, [FARM, ...args], { cwd, encoding: 'utf8', timeout: 180_000 });
const sha = (buf) => createHash('sha256').update(buf).digest('hex');

/** Recomputes an artifact hash as documented in the README (file bytes, or the sorted listing). */
function artifactHash(abs) {
  const st = lstatSync(abs);
  if (!st.isDirectory()) return { size: st.size, hash: `sha256:${sha(readFileSync(abs))}` };
  let size = 0;
  const listing = walk(abs)
    .map((rel) => {
      const p = path.join(abs, rel);
      if (lstatSync(p).isSymbolicLink()) return `${rel}\t->\t${readlinkSync(p)}\n`;
      const b = readFileSync(p);
      size += b.length;
      return `${rel}\t${b.length}\t${sha(b)}\n`;
    })
    .join('');
  return { size, hash: `sha256:${sha(listing)}` };
}

/** sha256 of every file under `dir` (relative path → hash). */
function snapshot(dir) {
  return Object.fromEntries(walk(dir).map((f) => [f, sha(readFileSync(path.join(dir, f)))]));
}

test('farm build on the example app: real outputs, manifest that matches the disk', () => {
  const dir = copyExample();
  const typesFile = 'web/src/types/api.ts';
  const before = snapshot(path.join(dir, 'apps'));
  const r = farm(dir, 'build');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /✓ backend/);
  assert.match(r.stdout, /✓ frontend/);
  assert.match(r.stdout, /Build b-.* succeeded/);

  // index.html references hashed assets that exist
  const web = path.join(dir, 'dist/web');
  const html = readFileSync(path.join(web, 'index.html'), 'utf8');
  const refs = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)].map((m) => m[1]);
  assert.ok(refs.length >= 2, html);
  for (const ref of refs) {
    assert.match(ref, /-[A-Za-z0-9_-]{8}\.(js|css)$/, `hashed name: ${ref}`);
    assert.ok(existsSync(path.join(web, ref)), `${ref} exists`);
  }
  const files = walk(web);
  assert.ok(files.some((f) => /^assets\/farm-hero-[A-Za-z0-9_-]+\.png$/.test(f)), 'the PNG asset is emitted');
  // vendor chunk holds React; defines replaced; plugin-config.json emitted
  const vendor = files.find((f) => /^assets\/react-vendor-.*\.js$/.test(f));
  assert.ok(vendor, files.join('\n'));
  assert.match(readFileSync(path.join(web, vendor), 'utf8'), /react\.production|__SECRET_INTERNALS|react\.element/);
  const js = files.filter((f) => f.endsWith('.js')).map((f) => readFileSync(path.join(web, f), 'utf8')).join('\n');
  assert.ok(!/__BUILD_VERSION__|__BUILD_TIMESTAMP__|__ENVIRONMENT__/.test(js), 'defines are replaced');
  assert.ok(js.includes('"1.0.0"') || js.includes("'1.0.0'") || js.includes('1.0.0'), 'version inlined');
  const pluginCfg = JSON.parse(readFileSync(path.join(web, 'plugin-config.json'), 'utf8'));
  assert.equal(pluginCfg.version, '1.0.0');
  assert.equal(pluginCfg.build.environment, 'production');
  assert.ok(!files.some((f) => f.endsWith('.map')), 'no source maps in production');

  // dist/api: .pyc, no tests, no __pycache__, no .env
  const api = walk(path.join(dir, 'dist/api')).filter((f) => !f.startsWith('.venv/'));
  assert.ok(api.includes('main.pyc') && api.includes('routers/users.pyc'), api.join('\n'));
  assert.ok(!api.some((f) => f.startsWith('tests/') || f.includes('__pycache__') || /(^|\/)test_[^/]*$/.test(f) || f.endsWith('conftest.py')));

  // build-manifest.json lists every artifact with a size and hash that match the files on disk
  const m = JSON.parse(readFileSync(path.join(dir, 'dist/build-manifest.json'), 'utf8'));
  assert.equal(m.success, true);
  assert.equal(m.environment, 'production');
  const types = new Set(m.artifacts.map((a) => a.type));
  for (const t of ['backend-source', 'frontend-bundle', 'ai-deployment-config', 'ollama-pull-script', 'docker-dockerfile', 'docker-compose', 'docker-k8s', 'docker-script']) {
    assert.ok(types.has(t), `artifact ${t} in ${[...types]}`);
  }
  for (const f of ['Dockerfile', 'Dockerfile.dev', 'Dockerfile.ollama', '.dockerignore', 'docker-compose.yml', 'k8s-manifests.yaml', 'deploy/deploy-compose.sh', 'deploy/deploy-k8s.sh', 'ai-config.json', 'ai/scripts/pull-models.sh']) {
    assert.ok(existsSync(path.join(dir, 'dist', f)), `dist/${f}`);
  }
  // The example is an npm workspace (package-lock.json at its root, the frontend in apps/web):
  // the development image installs the frontend's workspace with that lockfile.
  const dev = readFileSync(path.join(dir, 'dist/Dockerfile.dev'), 'utf8');
  assert.match(dev, /\nCOPY package-lock\.json package\.json \.\/\nCOPY apps\/web\/package\.json \.\/apps\/web\/\nRUN npm ci --workspace apps\/web\n/, dev);
  assert.ok(!/npm install/.test(dev), dev);
  for (const a of m.artifacts) {
    const actual = artifactHash(path.join(dir, a.path));
    assert.equal(a.size, actual.size, `${a.path} size`);
    assert.equal(a.hash, actual.hash, `${a.path} hash`);
  }
  // user sources are byte-identical after the build (the generated types file is the one declared output)
  const after = snapshot(path.join(dir, 'apps'));
  delete before[typesFile];
  delete after[typesFile];
  assert.deepEqual(after, before);
  // openapi.json has every route; the generated types match openapi-typescript 7 on it
  const openapi = JSON.parse(readFileSync(path.join(dir, 'dist/openapi/openapi.json'), 'utf8'));
  for (const route of ['/health', '/api/users', '/api/users/{user_id}', '/api/items', '/api/ai/chat', '/api/ai/models']) {
    assert.ok(openapi.paths[route], `route ${route} in openapi.json`);
  }
  const oa = m.artifacts.find((a) => a.type === 'openapi-schema');
  assert.equal(oa.metadata.endpoints, Object.values(openapi.paths).reduce((n, p) => n + Object.keys(p).length, 0));
  assert.ok(oa.metadata.models >= 5);
  const ref = path.join(dir, 'ref-api.ts');
  const ots = spawnSync(process.execPath, [path.join(FARM, '../../node_modules/openapi-typescript/bin/cli.js'), path.join(dir, 'dist/openapi/openapi.json'), '-o', ref], { encoding: 'utf8' });
  assert.equal(ots.status, 0, ots.stderr);
  const body = (t) => t.slice(t.indexOf(' */\n\n') + 5);
  assert.equal(body(readFileSync(path.join(dir, 'apps', typesFile), 'utf8')), body(readFileSync(ref, 'utf8')));
  assert.ok(m.toolVersions.node && m.toolVersions.python && m.toolVersions.vite && m.toolVersions['@farm/build-native']);
  assert.ok(m.metrics.peakRssBytes > 0 && m.metrics.phases.build > 0);
});

test('farm build --dev: source maps; --json prints the BuildResult', () => {
  const dir = copyExample();
  const r = farm(dir, 'build', '--dev', '--json', '--target', 'frontend');
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  assert.equal(result.success, true);
  assert.deepEqual(result.tasks.map((t) => t.name), ['backend', 'types', 'frontend']);
  assert.ok(walk(path.join(dir, 'dist/web')).some((f) => f.endsWith('.js.map')), 'source maps in development');
});

test('a user vite.config setting (base) is honoured', () => {
  const dir = copyExample();
  const cfgPath = path.join(dir, 'apps/web/vite.config.ts');
  writeFileSync(cfgPath, readFileSync(cfgPath, 'utf8').replace('defineConfig({', "defineConfig({\n  base: '/app/',"));
  const r = farm(dir, 'build', '--target', 'frontend');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(readFileSync(path.join(dir, 'dist/web/index.html'), 'utf8'), /src="\/app\/assets\//);
});

test('a broken TypeScript file fails the build with exit 1 and the compiler message', () => {
  const dir = copyExample();
  const f = path.join(dir, 'apps/web/src/App.tsx');
  writeFileSync(f, `${readFileSync(f, 'utf8')}\nexport const broken: number = "not a number";\n`);
  const r = farm(dir, 'build');
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /typecheck failed/);
  assert.match(r.stderr, /App\.tsx\(\d+,\d+\): error TS2322/);
});

test('a TypeScript syntax error fails the Vite build with file and line', () => {
  const dir = copyExample();
  const f = path.join(dir, 'apps/web/src/main.tsx');
  writeFileSync(f, `${readFileSync(f, 'utf8')}\nconst = ;\n`);
  const r = farm(dir, 'build', '--json');
  assert.equal(r.status, 1);
  const result = JSON.parse(r.stdout);
  const fe = result.tasks.find((t) => t.name === 'frontend');
  assert.equal(fe.status, 'failed');
  assert.match(fe.message, /main\.tsx:\d+/);
  assert.ok(!/\x1b\[/.test(r.stdout), 'no ANSI escapes in --json output');
  assert.ok(!existsSync(path.join(dir, 'dist/web')), 'no half-written frontend output');
});

test('a broken Python file fails the build with exit 1 and Python\'s message', () => {
  const dir = copyExample();
  writeFileSync(path.join(dir, 'apps/api/routers/users.py'), 'def oops(:\n    pass\n');
  const r = farm(dir, 'build');
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /backend failed/);
  assert.match(r.stderr, /users\.py/);
  assert.match(r.stderr, /SyntaxError/);
  assert.match(r.stdout, /types skipped: dependency `backend` failed/);
  assert.match(r.stdout, /frontend skipped: dependency `types` did not run/);
});

test('CLI: help, usage errors and config errors have their exit codes', () => {
  const dir = copyExample();
  assert.equal(farm(dir, '--help').status, 0);
  const h = farm(dir, 'build', '--help');
  assert.equal(h.status, 0);
  assert.match(h.stdout, /--target/);
  assert.equal(farm(dir, 'build', '--bogus').status, 2);
  assert.equal(farm(dir, 'build', '--env', 'moon').status, 2);
  assert.equal(farm(dir, 'frobnicate').status, 2);
  const t = farm(dir, 'build', '--target', 'nope');
  assert.equal(t.status, 2);
  assert.match(t.stderr, /unknown target `nope`/);
  writeFileSync(path.join(dir, 'farm.config.ts'), "export default { appName: 'x', fronted: {} };\n");
  const c = farm(dir, 'build');
  assert.equal(c.status, 2);
  assert.match(c.stderr, /farm\.config\.ts: `fronted`: unknown key .*did you mean `frontend`/);
});

test('Ctrl-C (SIGINT) during a build: cancelled, exit 1, no Vite process left', async () => {
  const dir = copyExample();
  const child = spawn(process.execPath, [FARM, 'build'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  while (!/▶ frontend/.test(out)) {
    if (child.exitCode !== null) assert.fail(out);
    await sleep(20);
  }
  await sleep(150);
  child.kill('SIGINT');
  const code = await new Promise((r) => child.on('exit', r));
  assert.equal(code, 1, out);
  assert.match(out, /CANCELLED/);
  await sleep(300);
  const left = [...processesMatching(dir), ...processesIn(dir)];
  assert.deepEqual(left, [], `processes left in ${dir}`);
});

test('secrets in the config never land in any artifact', () => {
  const dir = copyExample();
  const secrets = ['sk-live-SECRET-openai-4242', 'tok-SECRET-docker-777', 'pw-SECRET-feature-31337'];
  writeFileSync(
    path.join(dir, 'farm.config.ts'),
    `export default {
      appName: 'farm-app', version: '1.0.0',
      frontend: { root: 'apps/web', typecheck: false },
      backend: { root: 'apps/api' },
      ai: {
        providers: { ollama: { models: ['llama3.2'], timeoutMs: 500, retries: 0 }, openai: { enabled: true, apiKey: '${secrets[0]}', models: ['gpt-4o-mini'] } },
        features: { search: { password: '${secrets[2]}' } },
      },
      docker: { build: false, generateK8s: true, environment: { API_TOKEN: '${secrets[1]}', LOG_LEVEL: 'info' } },
    };\n`,
  );
  writeFileSync(path.join(dir, 'apps/api/.env'), `OPENAI_API_KEY=${secrets[0]}\n`);
  const r = farm(dir, 'build', '--json');
  assert.equal(r.status, 0, r.stderr);
  for (const s of secrets) assert.ok(!r.stdout.includes(s), `BuildResult holds ${s}`);
  const files = walk(path.join(dir, 'dist'), undefined, { links: false });
  assert.ok(files.length > 20);
  for (const f of files) {
    const text = readFileSync(path.join(dir, 'dist', f), 'latin1');
    for (const s of secrets) assert.ok(!text.includes(s), `dist/${f} holds ${s}`);
  }
  assert.ok(!files.some((f) => /(^|\/)\.env$/.test(f)), '.env is not copied');
  const compose = readFileSync(path.join(dir, 'dist/docker-compose.yml'), 'utf8');
  assert.match(compose, /API_TOKEN.*\$\{API_TOKEN/, 'the secret is an env reference');
  assert.match(compose, /LOG_LEVEL.*info/, 'a plain value stays a value');
  assert.match(readFileSync(path.join(dir, 'dist/ai-config.json'), 'utf8'), /\$\{FARM_OPENAI_API_KEY\}/);
});
