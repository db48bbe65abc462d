// The JS surface: result shape, events, plugin hooks, cancellation, config errors, failures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BuildOrchestrator, loadConfig, validateConfig } from '../js/index.mjs';
import { project, hangingPython, processesMatching, sleep } from './helpers.mjs';

const API = { 'api/main.py': 'from fastapi import FastAPI\napp = None\n', 'api/routers/users.py': 'X = 1\n', 'api/tests/test_x.py': 'def test_x(): pass\n' };

test('build resolves to a BuildResult with the seed fields', async () => {
  const root = project(API);
  const orch = new BuildOrchestrator({ appName: 'shape', version: '2.0.0', backend: { root: 'api' } }, { root });
  const r = await orch.build();
  assert.equal(r.success, true, JSON.stringify(r.error));
  assert.match(r.buildId, /^b-\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{8}$/);
  assert.equal(typeof r.duration, 'number');
  assert.equal(r.error, undefined);
  assert.deepEqual(r.tasks.map((t) => [t.name, t.status]), [['backend', 'succeeded']]);
  const [a] = r.artifacts;
  assert.equal(a.type, 'backend-source');
  assert.equal(a.path, 'dist/api');
  assert.ok(a.size > 0);
  assert.match(a.hash, /^sha256:[0-9a-f]{64}$/);
  for (const phase of ['pre-build', 'build', 'post-build']) assert.ok(r.metrics.phases[phase] > 0 && r.metrics.phases[phase] <= r.metrics.totalMs, `${phase}: ${r.metrics.phases[phase]}`);
  assert.ok(r.metrics.tasks.backend > 0);
  assert.ok(r.metrics.peakRssBytes > 0);
  assert.equal(r.manifestPath, 'dist/build-manifest.json');
  assert.ok(existsSync(path.join(root, 'dist/api/main.pyc')));
  assert.ok(!existsSync(path.join(root, 'dist/api/tests')));
  const ids = new Set();
  for (let i = 0; i < 3; i++) ids.add((await orch.build()).buildId);
  assert.equal(ids.size, 3, 'build ids are unique');
  assert.deepEqual([...ids], [...ids].sort(), 'build ids sort by time');
});

test('events arrive in batches; plugin hooks are awaited in order with their arguments', async () => {
  const root = project(API);
  const calls = [];
  const plugin = {
    name: 'recorder',
    async preBuild(ctx) {
      await sleep(20);
      calls.push(['preBuild', ctx.appName, ctx.tasks]);
    },
    onTaskStart(t) {
      calls.push(['onTaskStart', t.task]);
    },
    async onTaskEnd(t) {
      calls.push(['onTaskEnd', t.task, t.status]);
    },
    postBuild(r) {
      calls.push(['postBuild', r.success, r.artifacts.map((a) => a.type).filter((t) => t !== 'bundle-analysis')]);
    },
  };
  const batches = [];
  const orch = new BuildOrchestrator({ appName: 'hooks', backend: { root: 'api', generateTypes: false }, frontend: { root: 'web', typecheck: false } }, { root });
  let frontendReq;
  const r = await orch.build(undefined, {
    plugins: [plugin],
    onEvent: (evs) => batches.push(evs),
    frontendRunner: async (req) => {
      frontendReq = req;
      calls.push(['frontendRunner']);
      const { mkdirSync, writeFileSync } = await import('node:fs');
      mkdirSync(req.outDir, { recursive: true });
      writeFileSync(path.join(req.outDir, 'index.html'), '<html></html>');
      return { viteVersion: 'fake', files: [{ fileName: 'index.html', type: 'asset', size: 13 }], logs: ['fake vite line'] };
    },
  });
  // web/index.html must exist for the frontend task to start
  assert.equal(r.success, false, 'no web/index.html: frontend fails');
  assert.equal(r.tasks.find((t) => t.name === 'frontend').status, 'failed');
  assert.match(r.tasks.find((t) => t.name === 'frontend').message, /index\.html/);
  calls.length = 0;
  batches.length = 0;
  const { writeFileSync, mkdirSync } = await import('node:fs');
  mkdirSync(path.join(root, 'web'), { recursive: true });
  writeFileSync(path.join(root, 'web/index.html'), '<!doctype html>');
  const ok = await orch.build(undefined, {
    plugins: [plugin],
    onEvent: (evs) => batches.push(evs),
    frontendRunner: async (req) => {
      frontendReq = req;
      calls.push(['frontendRunner']);
      const fs = await import('node:fs');
      fs.mkdirSync(req.outDir, { recursive: true });
      fs.writeFileSync(path.join(req.outDir, 'index.html'), '<html></html>');
      return { viteVersion: 'fake', files: [{ fileName: 'index.html', type: 'asset', size: 13 }], logs: ['fake vite line'] };
    },
  });
  assert.equal(ok.success, true, JSON.stringify(ok.error));
  assert.deepEqual(calls, [
    ['preBuild', 'hooks', ['backend', 'frontend']],
    ['onTaskStart', 'backend'],
    ['onTaskEnd', 'backend', 'succeeded'],
    ['onTaskStart', 'frontend'],
    ['frontendRunner'],
    ['onTaskEnd', 'frontend', 'succeeded'],
    ['postBuild', true, ['backend-source', 'frontend-bundle']],
  ]);
  assert.equal(frontendReq.environment, 'production');
  assert.equal(frontendReq.sourcemap, false);
  assert.equal(frontendReq.minify, true);
  assert.ok(frontendReq.chunks['react-vendor'].includes('react'));
  const events = batches.flat();
  assert.ok(batches.length < events.length, `expected batching: ${batches.length} calls for ${events.length} events`);
  const kinds = events.filter((e) => e.task === 'frontend').map((e) => e.kind);
  assert.deepEqual(kinds.filter((k) => k !== 'log'), ['task-queued', 'task-started', 'task-finished']);
  assert.ok(events.some((e) => e.kind === 'log' && e.message === 'fake vite line'));
});

test('a throwing plugin hook fails the build with PLUGIN_FAILED and its message', async () => {
  const root = project(API);
  const orch = new BuildOrchestrator({ appName: 'boom', backend: { root: 'api' } }, { root });
  const r = await orch.build(undefined, {
    plugins: [{ name: 'bad', preBuild() { throw new Error('nope from plugin'); } }],
  });
  assert.equal(r.success, false);
  assert.equal(r.error.code, 'PLUGIN_FAILED');
  assert.match(r.error.message, /bad.*preBuild.*nope from plugin/);
  assert.equal(r.tasks.length, 0, 'no task ran');
});

test('the raw binding takes sync and async hooks: a returned promise is awaited, a sync throw fails', async () => {
  const { createRequire } = await import('node:module');
  const native = createRequire(import.meta.url)('../index.js');
  const root = project(API);
  const orch = new native.BuildOrchestrator({ appName: 'raw', backend: { root: 'api' } }, { root });
  const calls = [];
  const r = await orch.build(undefined, {
    plugins: [
      // A sync hook may return anything; it is not awaited.
      { name: 'sync', preBuild: (ctx) => calls.push(`sync:${ctx.appName}`), onTaskEnd: (t) => void calls.push(`end:${t.task}:${t.status}`) },
      {
        name: 'async',
        preBuild: async () => {
          await sleep(30);
          calls.push('async:done');
        },
      },
    ],
  });
  assert.equal(r.success, true, JSON.stringify(r.error));
  assert.deepEqual(calls, ['sync:raw', 'async:done', 'end:backend:succeeded']);
  const bad = await orch.build(undefined, { plugins: [{ name: 'thrower', onTaskStart: () => { throw new Error('sync boom'); } }] });
  assert.equal(bad.success, false);
  assert.match(JSON.stringify(bad), /sync boom/);
});

test('AbortSignal mid-build: CANCELLED, and no child process left running', async () => {
  const pidFile = path.join(process.env.TMPDIR ?? '/tmp', `farm-hang-${process.pid}.pid`);
  const root = project({ ...API, 'py.sh': hangingPython(pidFile) });
  const orch = new BuildOrchestrator({ appName: 'cancel', backend: { root: 'api', python: './py.sh' } }, { root });
  const ac = new AbortController();
  const started = Date.now();
  const pending = orch.build(undefined, { signal: ac.signal });
  while (!existsSync(pidFile)) await sleep(20);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  assert.doesNotThrow(() => process.kill(pid, 0), 'the child is running before abort');
  ac.abort();
  const r = await pending;
  assert.ok(Date.now() - started < 10_000);
  assert.equal(r.success, false);
  assert.equal(r.error.code, 'CANCELLED');
  assert.equal(r.tasks[0].status, 'cancelled');
  assert.ok(!existsSync(path.join(root, 'dist/api')), 'no half-written output');
  assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the child process is gone');
});

test('AbortSignal stops a running JS task through cancelFrontend', async () => {
  const root = project({ 'web/index.html': '<!doctype html>' });
  const orch = new BuildOrchestrator({ appName: 'jscancel', frontend: { root: 'web', typecheck: false } }, { root });
  const ac = new AbortController();
  let cancelledId = null;
  let rejectRun;
  const pending = orch.build(undefined, {
    signal: ac.signal,
    frontendRunner: (req) =>
      new Promise((_, reject) => {
        rejectRun = () => reject(new Error(`cancelled ${req.taskId}`));
        setTimeout(() => ac.abort(), 50);
      }),
    cancelFrontend: (id) => {
      cancelledId = id;
      rejectRun();
    },
  });
  const r = await pending;
  assert.equal(r.error.code, 'CANCELLED');
  assert.match(cancelledId, /^b-.*:frontend$/);
  assert.equal(r.tasks[0].status, 'cancelled');
});

test('a failing task: success false, TASK_FAILED, dependents skipped with the cause', async () => {
  const root = project({ 'api/main.py': 'def broken(:\n', 'web/index.html': '<!doctype html>' });
  const orch = new BuildOrchestrator({ appName: 'fail', backend: { root: 'api', generateTypes: false }, frontend: { root: 'web', typecheck: false } }, { root });
  let ran = false;
  const r = await orch.build(undefined, { frontendRunner: async () => { ran = true; return {}; } });
  assert.equal(r.success, false);
  assert.equal(r.error.code, 'TASK_FAILED');
  assert.equal(r.error.task, 'backend');
  assert.match(r.error.message, /compileall/);
  const be = r.tasks.find((t) => t.name === 'backend');
  assert.match(be.message, /main\.py/);
  assert.match(be.message, /SyntaxError/);
  assert.doesNotMatch(be.message, /partial/, 'errors name the user file, not the staging copy');
  const fe = r.tasks.find((t) => t.name === 'frontend');
  assert.equal(fe.status, 'skipped');
  assert.equal(fe.message, 'dependency `backend` failed');
  assert.equal(ran, false);
  assert.ok(!existsSync(path.join(root, 'dist/api')), 'the failed task left no output');
  const manifest = JSON.parse(readFileSync(path.join(root, 'dist/build-manifest.json'), 'utf8'));
  assert.equal(manifest.success, false);
  assert.deepEqual(manifest.artifacts, []);
});

test('--target selects tasks and pulls in dependencies; unknown targets are CONFIG_INVALID', () => {
  const root = project({ 'web/tsconfig.json': '{}' });
  const orch = new BuildOrchestrator({ appName: 'plan', backend: { root: 'api' }, frontend: { root: 'web' } }, { root });
  assert.deepEqual(orch.plan().map((t) => t.name), ['backend', 'types', 'typecheck', 'frontend']);
  assert.deepEqual(orch.plan(['frontend']).map((t) => t.name), ['backend', 'types', 'frontend']);
  assert.deepEqual(orch.plan(['backend']).map((t) => t.name), ['backend']);
  assert.throws(() => orch.plan(['nope']), (e) => e.code === 'CONFIG_INVALID' && /unknown target `nope`/.test(e.message));
  assert.throws(() => orch.plan(['docker']), (e) => e.code === 'CONFIG_INVALID' && /needs a `docker` section/.test(e.message));
});

// Each malformed config must be rejected with CONFIG_INVALID and a message naming the key.
const MALFORMED = [
  [{ version: '1.0.0' }, 'appName'],
  [{ appName: 'My App' }, 'appName'],
  [{ appName: 'x', verison: '1' }, 'verison'],
  [{ appName: 'x', environment: 'prod-ish' }, 'environment'],
  [{ appName: 'x', outputDir: '../elsewhere' }, 'outputDir'],
  [{ appName: 'x', outputDir: '/abs' }, 'outputDir'],
  [{ appName: 'x', cacheDir: 7 }, 'cacheDir'],
  [{ appName: 'x', build: { concurrency: 0 } }, 'build.concurrency'],
  [{ appName: 'x', build: { continueOnError: 'yes' } }, 'build.continueOnError'],
  [{ appName: 'x', build: { paralel: true } }, 'build.paralel'],
  [{ appName: 'x', frontend: { rot: 'apps/web' } }, 'frontend.rot'],
  [{ appName: 'x', frontend: { sourcemap: 'on' } }, 'frontend.sourcemap'],
  [{ appName: 'x', frontend: { chunks: { vendor: [] } } }, 'frontend.chunks.vendor'],
  [{ appName: 'x', backend: { app: 'main' } }, 'backend.app'],
  [{ appName: 'x', backend: { root: '../api' } }, 'backend.root'],
  [{ appName: 'x', plugins: [{ options: {} }] }, 'plugins[0]'],
  [{ appName: 'x', plugins: ['auth', 'auth'] }, 'plugins[1].name'],
  [{ appName: 'x', ai: 'ollama' }, 'ai'],
];

for (const [config, key] of MALFORMED) {
  test(`malformed config names \`${key}\`: ${JSON.stringify(config)}`, () => {
    assert.throws(
      () => new BuildOrchestrator(config, { root: process.cwd(), configFile: 'farm.config.ts' }),
      (e) => {
        assert.equal(e.code, 'CONFIG_INVALID');
        assert.ok(e.message.startsWith('farm.config.ts: '), e.message);
        assert.ok(e.message.includes(`\`${key}`), `message should name ${key}: ${e.message}`);
        assert.match(e.message, /Fix: /);
        return true;
      },
    );
    assert.throws(() => validateConfig(config, 'farm.config.ts'), (e) => e.code === 'CONFIG_INVALID');
  });
}

test('loadConfig: TypeScript config through Vite, JSON config, functions rejected with their key', async () => {
  const ts = project({ 'farm.config.ts': "const name: string = 'ts-app';\nexport default { appName: name, plugins: [{ name: 'p', preBuild() {} }] };\n" });
  const { symlinkSync } = await import('node:fs');
  const { EXAMPLE } = await import('./helpers.mjs');
  symlinkSync(path.join(EXAMPLE, 'node_modules'), path.join(ts, 'node_modules'));
  const loaded = await loadConfig(ts);
  assert.equal(loaded.configFile, 'farm.config.ts');
  assert.deepEqual(loaded.config, { appName: 'ts-app', plugins: [{ name: 'p' }] });
  assert.equal(loaded.plugins.length, 1);
  assert.equal(typeof loaded.plugins[0].preBuild, 'function');

  const json = project({ 'farm.config.json': '{"appName": "j", "frontend": {"root": "w"}}' });
  assert.deepEqual((await loadConfig(json)).config, { appName: 'j', frontend: { root: 'w' } });

  const bad = project({ 'farm.config.mjs': 'export default { appName: "f", frontend: { define: { X: () => 1 } } };' });
  await assert.rejects(loadConfig(bad), (e) => e.code === 'CONFIG_INVALID' && e.message.includes('`frontend.define.X`'));

  const broken = project({ 'farm.config.json': '{"appName": ' });
  await assert.rejects(loadConfig(broken), (e) => e.code === 'CONFIG_INVALID' && e.message.includes('farm.config.json'));

  await assert.rejects(loadConfig(project({})), (e) => e.code === 'CONFIG_INVALID' && /no config found/.test(e.message));
});

test('clean refuses an output dir that escapes the project root through a symlink', async () => {
  const outside = project({ 'keep.txt': 'precious' });
  const root = project(API);
  const { symlinkSync } = await import('node:fs');
  symlinkSync(outside, path.join(root, 'dist'));
  const r = await new BuildOrchestrator({ appName: 'clean', backend: { root: 'api' } }, { root }).build();
  assert.equal(r.success, false);
  assert.equal(r.error.code, 'CLEAN_REFUSED');
  assert.equal(readFileSync(path.join(outside, 'keep.txt'), 'utf8'), 'precious');
});

test('the process exits when a build is done (callbacks do not keep Node alive)', async () => {
  const { spawnSync } = await import('node:child_process');
  const root = project(API);
  const script = `import { BuildOrchestrator } from ${JSON.stringify(new URL('../js/index.mjs', import.meta.url).href)};
    const r = await new BuildOrchestrator({ appName: 'exit', backend: { root: 'api' } }, { root: ${JSON.stringify(root)} })
      .build(undefined, { onEvent() {}, plugins: [{ name: 'p', preBuild() {} }] });
    console.log(r.success);`;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000, encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  assert.equal(res.stdout.trim(), 'true');
  void processesMatching;
});

test('clean removes a link inside the output dir as a link, never what it points to', async () => {
  const outside = project({ 'keep.txt': 'precious' });
  const root = project(API);
  const { symlinkSync, mkdirSync } = await import('node:fs');
  mkdirSync(path.join(root, 'dist'));
  symlinkSync(outside, path.join(root, 'dist/link-out'));
  for (const noCache of [false, true]) {
    const r = await new BuildOrchestrator({ appName: 'clean2', backend: { root: 'api' } }, { root }).build(undefined, { noCache });
    assert.equal(r.success, true, JSON.stringify(r.error));
    assert.ok(!existsSync(path.join(root, 'dist/link-out')), 'the link is gone');
    assert.equal(readFileSync(path.join(outside, 'keep.txt'), 'utf8'), 'precious');
    symlinkSync(outside, path.join(root, 'dist/link-out'));
  }
  const escaping = project(API);
  symlinkSync(outside, path.join(escaping, 'dist'));
  const r = await new BuildOrchestrator({ appName: 'clean3', backend: { root: 'api' } }, { root: escaping }).build(undefined, { noCache: true });
  assert.equal(r.error?.code, 'CLEAN_REFUSED');
  assert.equal(readFileSync(path.join(outside, 'keep.txt'), 'utf8'), 'precious');
});
