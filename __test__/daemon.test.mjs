// Warm mode (`farm daemon`): builds through a running daemon give exactly what builds without it
// give, edits are seen, and a dead, absent or mismatched daemon means the normal path.
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, rmSync, mkdirSync, renameSync, existsSync } from 'node:fs';
import { project, walk, FARM } from './helpers.mjs';

const farm = (cwd, args, env = {}) =>
  spawnSync(process.execPath, [FARM, ...args], { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
const NO_DAEMON = { FARM_NO_DAEMON: '1' };

function json(dir, args, env) {
  const r = farm(dir, [...args, '--json'], env);
  assert.ok(r.stdout.trim(), `no JSON from farm ${args.join(' ')}: ${r.stderr}`);
  return { ...JSON.parse(r.stdout), stderr: r.stderr, status: r.status };
}
/** A build's result without what varies between runs (ids, timings, memory). */
const stable = (r) => ({
  success: r.success,
  error: r.error,
  tasks: r.tasks.map((t) => ({ name: t.name, status: t.status, cache: t.cache, key: t.key, message: t.message })),
  artifacts: r.artifacts.map((a) => ({ type: a.type, path: a.path, size: a.size, hash: a.hash })),
  warnings: r.warnings,
  exit: r.status,
});
const dryKeys = (dir, env) => json(dir, ['build', '--dry-run'], env).tasks;
const status = (dir) => {
  const r = farm(dir, ['daemon', 'status', '--json']);
  return JSON.parse(r.stdout);
};

function commandProject() {
  return project({
    'farm.config.json': JSON.stringify({
      appName: 'warm',
      tasks: {
        gen: { cwd: 'pkg', command: 'mkdir -p out && cat $(find src -type f | sort) > out/all.txt && echo "$GEN_MODE" > out/mode.txt', inputs: ['src/**'], outputs: ['out/**'], env: ['GEN_MODE'] },
        pack: { cwd: 'pkg', command: 'mkdir -p packed && wc -c < out/all.txt > packed/size.txt', inputs: ['out/**'], outputs: ['packed'], dependsOn: ['gen'] },
      },
    }),
    'pkg/.gitignore': '*.log\n',
    'pkg/src/a.txt': 'alpha\n',
    'pkg/src/b.txt': 'beta\n',
  });
}

/** Waits (up to 5 s) until process `pid` is gone; resolves whether it is. */
async function gone(pid) {
  for (let i = 0; i < 250; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** Starts the daemon of `dir` and stops it when the test ends. */
function startDaemon(t, dir) {
  const r = farm(dir, ['daemon', 'start']);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  t.after(() => farm(dir, ['daemon', 'stop']));
  const s = status(dir);
  assert.equal(s.watcher, 'watching');
  return s;
}

const outputs = (dir) => walk(path.join(dir, 'pkg')).filter((f) => /^(out|packed)\//.test(f)).map((f) => [f, readFileSync(path.join(dir, 'pkg', f), 'utf8')]);

test('in a git work tree, no-op builds are answered from memory: their own git status does not drop the memo', (t) => {
  const dir = commandProject();
  const git = (...args) => spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', '-c', 'commit.gpgsign=false', ...args], { cwd: dir, encoding: 'utf8' });
  assert.equal(git('init', '-q').status, 0);
  writeFileSync(path.join(dir, '.gitignore'), 'pkg/out/\npkg/packed/\ndist/\n.farm/\n');
  assert.equal(git('add', '-A').status, 0);
  assert.equal(git('commit', '-qm', 'init').status, 0);
  startDaemon(t, dir);
  assert.equal(json(dir, ['build']).success, true);
  const before = status(dir).memoHits;
  for (let i = 0; i < 3; i++) assert.deepEqual(json(dir, ['build']).tasks.map((x) => x.cache), ['hit', 'hit']);
  const after = status(dir);
  // Each no-op asks for gen's walk at least: three from memory.
  assert.ok(after.memoHits - before >= 3, `walks from memory: ${before} → ${after.memoHits} (${JSON.stringify(after)})`);
  // The manifest still says which commit, and that the tree is clean.
  const manifest = JSON.parse(readFileSync(path.join(dir, 'dist/build-manifest.json'), 'utf8'));
  assert.equal(manifest.git?.commit, git('rev-parse', 'HEAD').stdout.trim());
  assert.equal(manifest.git?.dirty, false);
  // The daemon hands builds the stats of its walks, so the git check stats nothing itself: an
  // input edited in place makes the tree dirty, and writing the committed bytes back makes it
  // clean again, as without the daemon.
  const dirty = () => JSON.parse(readFileSync(path.join(dir, 'dist/build-manifest.json'), 'utf8')).git?.dirty;
  const a = path.join(dir, 'pkg/src/a.txt');
  writeFileSync(a, 'ALPHA\n');
  assert.equal(json(dir, ['build']).success, true);
  assert.equal(dirty(), true, 'an edited input is a dirty tree');
  writeFileSync(a, 'alpha\n');
  assert.equal(json(dir, ['build']).success, true);
  assert.equal(dirty(), false, 'the committed bytes back: clean');
  assert.equal(json(dir, ['build'], NO_DAEMON).success, true);
  assert.equal(dirty(), false);
});

test('daemon start/status/stop; builds through it equal builds without it; edits, adds and deletes are seen', async (t) => {
  const dir = commandProject();
  assert.equal(farm(dir, ['daemon', 'status']).status, 1, 'no daemon yet');
  const s0 = startDaemon(t, dir);
  assert.equal(s0.builds, 0);
  assert.match(farm(dir, ['daemon', 'status']).stdout, new RegExp(`pid ${s0.pid}`));

  const cold = json(dir, ['build']);
  assert.equal(cold.success, true, cold.stderr);
  assert.deepEqual(cold.tasks.map((t) => t.cache), ['miss', 'miss']);
  // No-op: all hits, the same result as without the daemon, and served from memory.
  const warm = json(dir, ['build']);
  const plain = json(dir, ['build'], NO_DAEMON);
  assert.deepEqual(warm.tasks.map((t) => t.cache), ['hit', 'hit']);
  assert.deepEqual(stable(warm), stable(plain));
  const s1 = status(dir);
  assert.equal(s1.builds, 2, 'the two daemon builds were served');
  assert.ok(s1.memoHits >= 1, `a no-op is answered from memory: ${JSON.stringify(s1)}`);

  // Edit in place: the daemon hashes that file again and walks nothing; its keys are those of
  // a fresh walk. Then gen misses, and the outputs are those of a --no-cache build.
  writeFileSync(path.join(dir, 'pkg/src/a.txt'), 'ALPHA\n');
  const warmKeys = dryKeys(dir);
  const s2 = status(dir);
  assert.equal(s2.walks, s1.walks, `an in-place edit is answered without a walk: ${JSON.stringify(s2)}`);
  assert.ok(s2.memoHits > s1.memoHits, `an in-place edit is answered from memory: ${JSON.stringify(s2)}`);
  assert.deepEqual(warmKeys, dryKeys(dir, NO_DAEMON));
  const edited = json(dir, ['build']);
  assert.deepEqual(edited.tasks.map((t) => t.cache), ['miss', 'miss']);
  const viaDaemon = outputs(dir);
  assert.equal(readFileSync(path.join(dir, 'pkg/out/all.txt'), 'utf8'), 'ALPHA\nbeta\n');
  assert.equal(json(dir, ['build', '--no-cache'], NO_DAEMON).success, true);
  assert.deepEqual(outputs(dir), viaDaemon);

  // Add and delete files.
  writeFileSync(path.join(dir, 'pkg/src/c.txt'), 'gamma\n');
  assert.deepEqual(dryKeys(dir), dryKeys(dir, NO_DAEMON));
  assert.deepEqual(json(dir, ['build']).tasks.map((t) => t.cache), ['miss', 'miss']);
  rmSync(path.join(dir, 'pkg/src/b.txt'));
  const afterDelete = json(dir, ['build']);
  assert.equal(readFileSync(path.join(dir, 'pkg/out/all.txt'), 'utf8'), 'ALPHA\ngamma\n');
  assert.deepEqual(stable(json(dir, ['build'])), { ...stable(afterDelete), tasks: stable(afterDelete).tasks.map((t) => ({ ...t, cache: 'hit' })) });

  // A declared env var that changes between two clients: a miss, never an answer from memory.
  const a = json(dir, ['build'], { GEN_MODE: 'one' });
  const b = json(dir, ['build'], { GEN_MODE: 'two' });
  assert.equal(b.tasks[0].cache, 'miss');
  assert.notEqual(a.tasks[0].key, b.tasks[0].key);
  assert.equal(readFileSync(path.join(dir, 'pkg/out/mode.txt'), 'utf8'), 'two\n');

  const stop = farm(dir, ['daemon', 'stop']);
  assert.match(stop.stdout, /stopped/);
  assert.equal(farm(dir, ['daemon', 'status']).status, 1);
  assert.ok(await gone(s0.pid), 'the daemon process is gone');
});

test('a daemon of another protocol version is not used: same result, and the build says why', async (t) => {
  const dir = commandProject();
  startDaemon(t, dir);
  json(dir, ['build'], NO_DAEMON);
  const mismatched = json(dir, ['build'], { FARM_DAEMON_PROTOCOL: '999', FARM_DAEMON_DEBUG: '1' });
  assert.match(mismatched.stderr, /daemon version mismatch: client protocol 999/);
  assert.deepEqual(stable(mismatched), stable(json(dir, ['build'], NO_DAEMON)));
  assert.equal(status(dir).builds, 0, 'the mismatched client was refused');
});

test('a daemon killed with SIGKILL: the next build falls back and removes the stale socket', async (t) => {
  const dir = commandProject();
  const s = startDaemon(t, dir);
  json(dir, ['build']);
  process.kill(s.pid, 'SIGKILL');
  assert.ok(await gone(s.pid));
  assert.ok(existsSync(s.socket), 'the socket is left behind');
  const after = json(dir, ['build'], { FARM_DAEMON_DEBUG: '1' });
  assert.deepEqual(stable(after), stable(json(dir, ['build'], NO_DAEMON)));
  assert.deepEqual(after.tasks.map((t) => t.cache), ['hit', 'hit']);
  assert.ok(!existsSync(s.socket), 'the stale socket was removed');
});

/** A small seeded PRNG (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('random edits: after each step the daemon gives the keys of a fresh walk without it', async (t) => {
  const seed = Number(process.env.FARM_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`daemon random test seed: ${seed} (FARM_TEST_SEED=${seed} replays it)`);
  const rand = rng(seed);
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const dir = commandProject();
  startDaemon(t, dir);
  const src = path.join(dir, 'pkg/src');
  const files = () => walk(src);
  const ops = [
    ['edit', () => { const f = pick(files()); if (f) writeFileSync(path.join(src, f), `v${rand()}\n`); }],
    ['add', () => writeFileSync(path.join(src, `f${Math.floor(rand() * 50)}.txt`), `n${rand()}\n`)],
    ['delete', () => { const f = pick(files()); if (f && files().length > 1) rmSync(path.join(src, f)); }],
    ['mkdir+add', () => { const d = path.join(src, `d${Math.floor(rand() * 5)}`, `e${Math.floor(rand() * 3)}`); mkdirSync(d, { recursive: true }); writeFileSync(path.join(d, 'x.txt'), `x${rand()}\n`); }],
    ['rename dir', () => { const ds = files().filter((f) => f.includes('/')).map((f) => f.split('/')[0]); const d = pick(ds); if (d) renameSync(path.join(src, d), path.join(src, `r${Math.floor(rand() * 1000)}`)); }],
    ['ignored file', () => writeFileSync(path.join(src, `noise${Math.floor(rand() * 3)}.log`), `${rand()}`)],
    ['gitignore', () => writeFileSync(path.join(dir, 'pkg/.gitignore'), pick(['*.log\n', '', '*.log\nd*/\n', 'f1*.txt\n']))],
    ['build', () => json(dir, ['build'])],
    ['nothing', () => {}],
  ];
  const before = status(dir).memoHits;
  for (let step = 0; step < 25; step++) {
    const [name, op] = pick(ops);
    op();
    const warm = dryKeys(dir);
    const fresh = dryKeys(dir, NO_DAEMON);
    assert.deepEqual(warm, fresh, `seed ${seed}, step ${step} (${name}): the daemon's keys differ from a fresh walk`);
  }
  assert.ok(status(dir).memoHits > before, 'some answers came from memory (the daemon was used)');
});
