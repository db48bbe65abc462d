// The native `farm` executable (farm-native, from `npm run build` / `npm run build:debug`) against
// the JavaScript CLI: every scenario runs on twin projects, one through each path, and the output
// (stdout, stderr, exit code; timings, memory and build ids masked) must be the same. A `node` on
// PATH that logs its arguments shows which path answered: the native one may only ask
// `node --version` (once per Node binary: the answer is kept in .farm/cache/config).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FARM, REPO, copyExample, project } from './helpers.mjs';

const NATIVE = path.join(REPO, 'farm-native');
assert.ok(existsSync(NATIVE), `${NATIVE} is missing: build it with \`npm run build:debug\` (or \`npm run build\`)`);

// A `node` that logs each invocation's arguments, then runs the real one.
const SHIM = mkdtempSync(path.join(os.tmpdir(), 'farm-node-shim-'));
const LOG = path.join(SHIM, 'calls.log');
writeFileSync(path.join(SHIM, 'node'), `#!/bin/sh\nprintf '%s\\n' "$*" >> ${JSON.stringify(LOG)}\nexec ${JSON.stringify(process.execPath)} "$@"\n`, { mode: 0o755 });
const ENV = { ...process.env, PATH: `${SHIM}:${process.env.PATH}`, FARM_NO_DAEMON: '1' };
delete ENV.FARM_NATIVE;
delete ENV.FARM_NODE;

/** Node invocations since the last call (their argument lists). */
function nodeCalls() {
  const calls = existsSync(LOG) ? readFileSync(LOG, 'utf8').split('\n').filter(Boolean) : [];
  writeFileSync(LOG, '');
  return calls;
}

/** Runs `farm ARGS` in `dir` through `way`: `js` (FARM_NATIVE=0), `native` (the executable), `bin` (bin/farm.mjs, which offers it to the executable). */
function farm(way, dir, ...args) {
  nodeCalls();
  const env = { ...ENV, FARM_DEBUG_NATIVE: '1' };
  if (way === 'js') env.FARM_NATIVE = '0';
  const [cmd, argv] = way === 'native' ? [NATIVE, args] : ['node', [FARM, ...args]];
  const r = spawnSync(cmd, argv, { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });
  const debug = r.stderr.split('\n').filter((l) => l.startsWith('farm: native: '));
  const stderr = r.stderr.split('\n').filter((l) => !l.startsWith('farm: native: ')).join('\n');
  // The twins' own paths (e.g. in `farm cache status`) are the one difference allowed.
  const local = (t) => t.replaceAll(dir, '<dir>');
  return { status: r.status, stdout: local(r.stdout), stderr: local(stderr), debug: debug.join('\n'), calls: nodeCalls() };
}

/** Masks what differs between two runs of the same build: ids, timings, memory, and the order in
 * which concurrent tasks' progress lines interleave (the lines between the header and the summary
 * are compared sorted). */
function mask(text) {
  const lines = text.split('\n');
  const end = lines.indexOf('', 1);
  if (lines[0]?.startsWith('farm build · ') && end > 0) text = [lines[0], ...lines.slice(1, end).sort(), ...lines.slice(end)].join('\n');
  return text
    .replace(/b-\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{8}/g, '<id>')
    .replace(/\b\d+(\.\d+)?(ms|s)\b/g, '<t>')
    .replace(/^peak memory: .*$/gm, 'peak memory: <m>')
    // Column widths follow the masked values.
    .replace(/ {2,}/g, ' ')
    .replace(/─+/g, '─');
}

/** A `--json` result with ids, timings and memory masked; key order is kept (compared as text). */
function maskJson(text) {
  const r = JSON.parse(text);
  if (r.buildId) r.buildId = '<id>';
  if (typeof r.duration === 'number') r.duration = 0;
  if (r.metrics) {
    for (const k of Object.keys(r.metrics)) {
      if (typeof r.metrics[k] === 'number') r.metrics[k] = 0;
      else for (const n of Object.keys(r.metrics[k])) r.metrics[k][n] = 0;
    }
  }
  for (const t of r.tasks ?? []) {
    t.durationMs = 0;
    if ('restoreMs' in t) t.restoreMs = 0;
  }
  return JSON.stringify(r, null, 2);
}

/** The two outputs are the same (masked); `json`: stdout is a --json document. */
function assertSame(a, b, json = false) {
  assert.equal(a.status, b.status, `exit codes\n${a.stdout}${a.stderr}\n---\n${b.stdout}${b.stderr}`);
  if (json) assert.equal(maskJson(a.stdout), maskJson(b.stdout));
  else assert.equal(mask(a.stdout), mask(b.stdout));
  assert.equal(mask(a.stderr), mask(b.stderr));
}

const answered = (r) => {
  assert.match(r.debug, /farm: native: answered/, r.debug);
  assert.deepEqual(r.calls.filter((c) => c !== '--version'), [], 'the native path started Node');
};
const handedOver = (r, why) => {
  assert.match(r.debug, new RegExp(`farm: native: handing over to Node: .*${why}`), r.debug);
  assert.ok(r.calls.some((c) => c.includes(path.join('js', 'cli', 'main.mjs'))), `Node ran the JS CLI: ${r.calls.join(' | ')}`);
};

/** Two copies of a project. */
function twins(files) {
  const a = project(files);
  const b = mkdtempSync(path.join(os.tmpdir(), 'farm-twin-'));
  cpSync(a, b, { recursive: true });
  return [a, b];
}

const TASKS = {
  gen: { cwd: 'pkg', command: 'mkdir -p out && cat src/*.txt > out/all.txt && echo generated', inputs: ['src/**'], outputs: ['out/**'] },
  pack: { cwd: 'pkg', command: 'mkdir -p packed && wc -c < out/all.txt > packed/size.txt', inputs: ['out/**'], outputs: ['packed'], dependsOn: ['gen'] },
};
const SOURCES = { 'pkg/src/a.txt': 'alpha\n', 'pkg/src/b.txt': 'beta\n' };

test('an all-cached build: the native path answers without Node, with the output of the JS path (plain, --json, targets)', () => {
  const [a, b] = twins({ 'farm.config.json': JSON.stringify({ appName: 'twins', version: '1.2.3', tasks: TASKS }), ...SOURCES });
  assertSame(farm('js', a, 'build'), farm('js', b, 'build'));
  for (const args of [['build'], ['build', '--json'], ['build', '-t', 'gen', '--no-clean'], ['build', '--env=staging', '--concurrency', '1', '--continue'], ['build', '--dry-run'], ['build', '--dry-run', '--json', '-t', 'pack']]) {
    const js = farm('js', a, ...args);
    const native = farm('native', b, ...args);
    assert.equal(js.status, 0, js.stderr);
    answered(native);
    assertSame(js, native, args.includes('--json'));
    // A dry run has nothing to mask: the same bytes (keys travel between the twins).
    if (args.includes('--dry-run')) assert.equal(native.stdout, js.stdout);
    if (args.includes('--json')) assert.deepEqual(JSON.parse(native.stdout).tasks.map((t) => t.cache), ['hit', 'hit']);
  }
  // bin/farm.mjs offers the build to the executable, which answers it.
  const viaBin = farm('bin', b, 'build');
  assert.match(viaBin.debug, /farm: native: answered/);
  assertSame(farm('js', a, 'build'), viaBin);
});

test('misses of tasks that run no JavaScript (commands) are built natively, as the JS path builds them', () => {
  const [a, b] = twins({ 'farm.config.json': JSON.stringify({ appName: 'miss', tasks: TASKS }), ...SOURCES });
  const first = farm('native', b, 'build');
  answered(first);
  assertSame(farm('js', a, 'build'), first);
  for (const d of [a, b]) writeFileSync(path.join(d, 'pkg/src/c.txt'), 'gamma\n');
  // The dry run sees the miss, natively, in the same bytes.
  const jsDry = farm('js', a, 'build', '--dry-run');
  const nativeDry = farm('native', b, 'build', '--dry-run');
  answered(nativeDry);
  assert.equal(nativeDry.stdout, jsDry.stdout);
  assert.match(nativeDry.stdout, /^gen +- +miss +[0-9a-f]{32} +3$/m);
  const js = farm('js', a, 'build', '--json');
  const native = farm('native', b, 'build', '--json');
  answered(native);
  assertSame(js, native, true);
  assert.deepEqual(JSON.parse(native.stdout).tasks.map((t) => t.cache), ['miss', 'miss']);
  assert.equal(readFileSync(path.join(b, 'pkg/out/all.txt'), 'utf8'), 'alpha\nbeta\ngamma\n');
  // A failing command: the same failure, exit code 1, and messages on stderr.
  for (const d of [a, b]) writeFileSync(path.join(d, 'farm.config.json'), JSON.stringify({ appName: 'miss', tasks: { ...TASKS, gen: { ...TASKS.gen, command: 'echo broken >&2; exit 3' } } }));
  const jsFail = farm('js', a, 'build');
  const nativeFail = farm('native', b, 'build');
  assert.equal(jsFail.status, 1, jsFail.stderr);
  answered(nativeFail);
  assertSame(jsFail, nativeFail);
});

test('flags the native path does not implement, and other commands, go to Node with the same output', () => {
  const [a, b] = twins({ 'farm.config.json': JSON.stringify({ appName: 'flags', tasks: TASKS }), ...SOURCES });
  farm('js', a, 'build');
  farm('js', b, 'build');
  for (const args of [['build', '--help'], ['build', '--nope'], ['build', 'stray'], ['cache', 'status'], ['--help'], ['build', '--env', 'prod']]) {
    const js = farm('js', a, ...args);
    const native = farm('native', b, ...args);
    assert.match(native.debug, /handing over to Node/, args.join(' '));
    assertSame(js, native);
  }
  const v = farm('native', b, '--version');
  answered(v);
  assert.equal(v.stdout, farm('js', a, '--version').stdout);
});

test('a config error: exit code 2 and the same message on both paths (plain and --json)', () => {
  const cfg = JSON.stringify({ appName: 'bad', tasks: { x: { command: 'true', dependsOn: ['nowhere'] } } });
  const [a, b] = twins({ 'farm.config.json': cfg });
  for (const args of [['build'], ['build', '--json'], ['build', '-t', 'missing-target']]) {
    const js = farm('js', a, ...args);
    const native = farm('native', b, ...args);
    assert.equal(js.status, 2, js.stdout + js.stderr);
    answered(native);
    assertSame(js, native, args.includes('--json'));
  }
  // An unknown target in a valid config.
  const [c, d] = twins({ 'farm.config.json': JSON.stringify({ appName: 'ok', tasks: TASKS }), ...SOURCES });
  const js = farm('js', c, 'build', '-t', 'nope');
  const native = farm('native', d, 'build', '-t', 'nope');
  assert.equal(js.status, 2);
  answered(native);
  assertSame(js, native);
});

test('a script config: its cached value is used while fresh; an edited import makes the native path hand over', () => {
  const files = {
    'farm.config.mjs': `import { tasks } from './tasks.mjs';\nexport default { appName: 'script', tasks };\n`,
    'tasks.mjs': `export const tasks = ${JSON.stringify(TASKS)};\n`,
    ...SOURCES,
  };
  const [a, b] = twins(files);
  const first = farm('native', b, 'build');
  handedOver(first, 'has no cached value yet');
  assertSame(farm('js', a, 'build'), first);
  // Through bin/farm.mjs the executable hands back: one Node process does the build.
  const [c] = twins(files);
  const viaBin = farm('bin', c, 'build');
  assert.equal(viaBin.status, 0, viaBin.stderr);
  assert.match(viaBin.debug, /handing over to Node: farm\.config\.mjs has no cached value yet/);
  assert.equal(viaBin.calls.length, 1, viaBin.calls.join(' | '));
  const hit = farm('native', b, 'build');
  answered(hit);
  assertSame(farm('js', a, 'build'), hit);
  // Same value, other bytes: the key changed, so Node evaluates the config again.
  for (const d of [a, b]) appendFileSync(path.join(d, 'tasks.mjs'), '// edited\n');
  const stale = farm('native', b, 'build');
  handedOver(stale, 'stale \\(files changed\\)');
  assertSame(farm('js', a, 'build'), stale);
  answered(farm('native', b, 'build'));
  // Another Node.js version is another key (of the config cache and of every task): hand over.
  const other = path.join(SHIM, 'node-v99');
  writeFileSync(other, `#!/bin/sh\n[ "$1" = --version ] && { echo v99.0.0; exit 0; }\nexec ${JSON.stringify(process.execPath)} "$@"\n`, { mode: 0o755 });
  const r = spawnSync(NATIVE, ['build'], { cwd: b, env: { ...ENV, FARM_DEBUG_NATIVE: '1', FARM_NODE: other, FARM_NATIVE_HANDBACK: '1' }, encoding: 'utf8' });
  assert.equal(r.status, 87, r.stderr);
  assert.match(r.stderr, /handing over to Node: the cached value of farm\.config\.mjs is stale \(node changed\)/);
  assert.equal(r.stdout, '');
});

test('FARM_NATIVE=0 hands every command to Node', () => {
  const dir = project({ 'farm.config.json': JSON.stringify({ appName: 'off', tasks: TASKS }), ...SOURCES });
  farm('js', dir, 'build');
  nodeCalls();
  const r = spawnSync(NATIVE, ['build'], { cwd: dir, env: { ...ENV, FARM_NATIVE: '0', FARM_DEBUG_NATIVE: '1' }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /handing over to Node: FARM_NATIVE=0/);
  assert.ok(nodeCalls().some((c) => c.includes('main.mjs build')));
});

/** What a terminal shows after `text` (the escapes the live view uses: ESC[nF, ESC[0J, ESC[2K). */
function screen(text) {
  const lines = [''];
  let row = 0;
  const re = /\x1b\[(\d*)([FJK])|\r|\n|[^\x1b\r\n]+/g;
  for (const m of text.matchAll(re)) {
    const [tok, n, op] = m;
    if (tok === '\n') {
      row += 1;
      if (lines.length <= row) lines.push('');
    } else if (tok === '\r') continue;
    else if (op === 'F') row = Math.max(0, row - Number(n || 1));
    else if (op === 'J') lines.length = row + 1;
    else if (op === 'K') lines[row] = '';
    else lines[row] += tok;
  }
  return lines.join('\n');
}

test('on a terminal (the live view) both paths leave the same screen', () => {
  const [a, b] = twins({ 'farm.config.json': JSON.stringify({ appName: 'tty', tasks: TASKS }), ...SOURCES });
  farm('js', a, 'build');
  farm('js', b, 'build');
  const tty = (dir, cmd, env) => {
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: dir, env: { ...ENV, ...env }, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    return { status: 0, stdout: screen(r.stdout.replace(/\r\n/g, '\n')), stderr: '' };
  };
  const js = tty(a, `node ${JSON.stringify(FARM)} build`, { FARM_NATIVE: '0' });
  nodeCalls();
  const native = tty(b, `${JSON.stringify(NATIVE)} build`, {});
  assert.deepEqual(nodeCalls().filter((c) => c !== '--version'), [], 'the native path answered');
  assert.match(js.stdout, /✓ gen +succeeded/, js.stdout);
  assertSame(js, native);
});

test('node_modules/.bin/farm-native (bin/farm-native, a sh script) runs the executable: no Node start-up', () => {
  const dir = project({ 'farm.config.json': JSON.stringify({ appName: 'bin', tasks: TASKS }), ...SOURCES });
  const bin = path.join(dir, 'node_modules', '.bin');
  mkdirSync(bin, { recursive: true });
  symlinkSync(path.join(REPO, 'bin', 'farm-native'), path.join(bin, 'farm-native'));
  const run = () => {
    nodeCalls();
    const r = spawnSync(path.join(bin, 'farm-native'), ['build', '--json'], { cwd: dir, env: { ...ENV, FARM_DEBUG_NATIVE: '1' }, encoding: 'utf8' });
    return { ...r, calls: nodeCalls() };
  };
  const cold = run();
  assert.equal(cold.status, 0, cold.stderr);
  assert.match(cold.stderr, /farm: native: answered/);
  assert.deepEqual(JSON.parse(cold.stdout).tasks.map((t) => t.cache), ['miss', 'miss']);
  const warm = run();
  assert.equal(warm.status, 0, warm.stderr);
  assert.match(warm.stderr, /farm: native: answered/);
  assert.deepEqual(warm.calls.filter((c) => c !== '--version'), [], 'the native path started Node');
  assert.deepEqual(JSON.parse(warm.stdout).tasks.map((t) => t.cache), ['hit', 'hit']);
});

test('the example app: a no-op is answered natively (AI models and docker, never cached, run in Rust); a frontend or types miss goes to Node', () => {
  const dir = copyExample();
  const cold = farm('native', dir, 'build');
  assert.equal(cold.status, 0, cold.stdout + cold.stderr);
  assert.match(cold.debug, /handing over to Node: farm\.config\.ts has no cached value yet/);
  for (const args of [['build'], ['build', '--json']]) {
    const js = farm('js', dir, ...args);
    const native = farm('native', dir, ...args);
    assert.equal(js.status, 0, js.stdout + js.stderr);
    answered(native);
    assertSame(js, native, args.includes('--json'));
  }
  const result = JSON.parse(farm('native', dir, 'build', '--json').stdout);
  assert.deepEqual(result.tasks.filter((t) => t.cache !== 'hit').map((t) => [t.name, t.cache]), [['ai-models', 'off'], ['docker', 'off']]);
  assert.ok(result.artifacts.some((a) => a.type === 'frontend-bundle' && Object.keys(a.metadata).length > 0), 'artifacts with metadata are compared');
  // A frontend source edit: the frontend must run Vite.
  const app = readFileSync(path.join(dir, 'apps/web/src/App.tsx'), 'utf8');
  writeFileSync(path.join(dir, 'apps/web/src/App.tsx'), `${app}\n// edited\n`);
  handedOver(farm('native', dir, 'build'), 'task `frontend` is a cache miss');
  answered(farm('native', dir, 'build'));
  // An API change: types must run first, then the frontend.
  const main = path.join(dir, 'apps/api/main.py');
  writeFileSync(main, `${readFileSync(main, 'utf8')}\n\n@app.get("/native-probe")\ndef native_probe():\n    return {"ok": True}\n`);
  handedOver(farm('native', dir, 'build'), 'task `frontend` depends on `types`, which is not a cache hit');
});
