// Process hygiene through the CLI: `farm build` killed with SIGKILL leaves no process behind and
// the next build is right; concurrent builds of one project run a task once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FARM, copyExample, project, processesIn, processesMatching, sleep } from './helpers.mjs';

/** Runs `farm build --json` in `dir`; resolves to `{ code, result, stderr }`. */
function farmBuild(dir) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [FARM, 'build', '--json'], { cwd: dir });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => {
      let result = null;
      try {
        result = JSON.parse(stdout);
      } catch {}
      resolve({ code, result, stderr, stdout });
    });
  });
}

/** A small seeded PRNG (mulberry32). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `ps`-like lines for `pids`, for failure messages. */
function describe(pids) {
  return pids
    .map((p) => {
      try {
        return `${p}: ${readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')}`;
      } catch {
        return `${p}: (gone)`;
      }
    })
    .join('; ');
}

/** Polls until no process works under `dir` (at most `ms`); returns what is left. */
async function survivors(dir, ms = 1000) {
  const end = Date.now() + ms;
  let left = processesIn(dir);
  while (left.length && Date.now() < end) {
    await sleep(25);
    left = processesIn(dir);
  }
  return left;
}

const COUNTS = ['1', '2', '3', '4', '5', '6', '7', '8'].join('\n') + '\n';

/**
 * A command task whose children keep writing into its output: a background loop appends 1..8 to
 * out/n.txt (2 s) while another child sleeps. Orphans of a killed build would go on for up to 2 s
 * (longer than the test waits for them to be gone) and append into the next build's out/n.txt.
 */
function killProject() {
  return project({
    'farm.config.json': JSON.stringify({
      appName: 'proc',
      tasks: {
        gen: {
          cwd: 'pkg',
          command:
            'rm -rf out && mkdir out && cp src/in.txt out/in.txt && (for i in 1 2 3 4 5 6 7 8; do echo $i >> out/n.txt; sleep 0.25; done) & sleep 2 & wait; echo done > out/done.txt',
          inputs: ['src/**'],
          outputs: ['out/**'],
        },
      },
    }),
    'pkg/src/in.txt': 'round -1\n',
  });
}

function assertOutputs(dir, input, msg) {
  assert.equal(readFileSync(path.join(dir, 'pkg/out/n.txt'), 'utf8'), COUNTS, msg);
  assert.equal(readFileSync(path.join(dir, 'pkg/out/in.txt'), 'utf8'), input, msg);
  assert.equal(readFileSync(path.join(dir, 'pkg/out/done.txt'), 'utf8'), 'done\n', msg);
}

test('kill -9 of `farm build` at random points: no process survives, the next build is right and cached', async () => {
  const seed = Number(process.env.FARM_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`kill -9 test seed: ${seed} (rerun with FARM_TEST_SEED=${seed})`);
  const rand = prng(seed);
  const dir = killProject();
  const inFile = path.join(dir, 'pkg/src/in.txt');
  // A full build (node start-up included) sets the span the kill points are drawn from.
  const t0 = Date.now();
  const first = await farmBuild(dir);
  const span = Date.now() - t0;
  assert.equal(first.code, 0, first.stderr);
  assertOutputs(dir, 'round -1\n');

  const ROUNDS = 20;
  for (let i = 0; i < ROUNDS; i++) {
    const input = `round ${i}\n`;
    writeFileSync(inFile, input); // a new input each round: the task is a miss and runs
    const child = spawn(process.execPath, [FARM, 'build'], { cwd: dir, stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    const at = Math.floor(rand() * span);
    await sleep(at);
    child.kill('SIGKILL');
    await exited;
    const left = await survivors(dir);
    const what = describe(left);
    for (const p of left) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {}
    }
    assert.deepEqual(left, [], `round ${i} (seed ${seed}): killed at ${at} ms of ${span}; left running: ${what}`);

    if (i % 5 === 4 || i === ROUNDS - 1) {
      // The next build is right: the outputs of this input, exactly; then cached.
      const next = await farmBuild(dir);
      assert.equal(next.code, 0, `round ${i} (seed ${seed}): ${next.stderr}${next.stdout}`);
      assertOutputs(dir, input, `round ${i} (seed ${seed}): next build`);
      rmSync(path.join(dir, 'pkg/out'), { recursive: true });
      const again = await farmBuild(dir);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.result.tasks[0].cache, 'hit', `round ${i} (seed ${seed})`);
      assertOutputs(dir, input, `round ${i} (seed ${seed}): restored from the cache`);
    }
  }
});

test('8 concurrent builds of one project: the task runs once, the others wait and hit the cache', async () => {
  const dir = project({
    'farm.config.json': JSON.stringify({
      appName: 'concurrent',
      tasks: {
        gen: {
          cwd: 'pkg',
          // runs.log is outside the task's inputs and outputs: it counts the runs.
          command: 'echo run >> ../runs.log && rm -rf out && mkdir out && for f in src/*.txt; do cat $f >> out/all.txt; sleep 0.1; done && sleep 0.5 && echo ok > out/done.txt',
          inputs: ['src/**'],
          outputs: ['out/**'],
        },
      },
    }),
    'pkg/src/a.txt': 'alpha\n',
    'pkg/src/b.txt': 'beta\n',
    'pkg/src/c.txt': 'gamma\n',
  });
  const runs = await Promise.all(Array.from({ length: 8 }, () => farmBuild(dir)));
  for (const r of runs) assert.equal(r.code, 0, `${r.stderr}${r.stdout}`);
  const count = readFileSync(path.join(dir, 'runs.log'), 'utf8').split('\n').filter(Boolean).length;
  assert.equal(count, 1, 'the command ran exactly once');
  const caches = runs.map((r) => r.result.tasks[0].cache).sort();
  assert.deepEqual(caches, ['hit', 'hit', 'hit', 'hit', 'hit', 'hit', 'hit', 'miss']);
  assert.equal(readFileSync(path.join(dir, 'pkg/out/all.txt'), 'utf8'), 'alpha\nbeta\ngamma\n');
  assert.equal(readFileSync(path.join(dir, 'pkg/out/done.txt'), 'utf8'), 'ok\n');
  // A build that waits says so (once), then hits what the first one saved.
  writeFileSync(path.join(dir, 'pkg/src/d.txt'), 'delta\n');
  const bg = farmBuild(dir);
  const runsFile = path.join(dir, 'runs.log');
  for (let t = 0; readFileSync(runsFile, 'utf8').split('\n').filter(Boolean).length < 2; t++) {
    assert.ok(t < 400, 'the background build never started its command');
    await sleep(25);
  }
  const { BuildOrchestrator } = await import('../js/index.mjs');
  const orch = await BuildOrchestrator.fromProject(dir);
  const events = [];
  const waited = await orch.build(undefined, { onEvent: (evs) => events.push(...evs) });
  const done = await bg;
  assert.equal(done.code, 0, done.stderr);
  assert.equal(done.result.tasks[0].cache, 'miss');
  assert.equal(waited.success, true, JSON.stringify(waited.error));
  assert.equal(waited.tasks[0].cache, 'hit');
  const waits = events.filter((e) => e.kind === 'log' && e.task === 'gen' && /^waiting for another build of gen/.test(e.message));
  assert.equal(waits.length, 1, JSON.stringify(events));
  assert.equal(readFileSync(path.join(dir, 'pkg/out/all.txt'), 'utf8'), 'alpha\nbeta\ngamma\ndelta\n');
  assert.deepEqual(await survivors(dir, 1000), []);
});

test('a process registered with watchProcess (the Vite worker) is killed when its farm process dies', async () => {
  const dir = project({
    // Plays farm: registers a child that would otherwise outlive it (detached: not even in its
    // process group), says the pids, then waits to be killed.
    'host.mjs': `
      import { spawn } from 'node:child_process';
      import { createRequire } from 'node:module';
      const native = createRequire(${JSON.stringify(FARM)})('../index.js');
      const child = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
      const token = native.watchProcess(child.pid);
      const other = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
      native.unwatchProcess(native.watchProcess(other.pid));
      console.log(JSON.stringify({ watched: child.pid, unwatched: other.pid, token }));
      setInterval(() => {}, 1000);
    `,
  });
  const host = spawn(process.execPath, [path.join(dir, 'host.mjs')], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve) => host.stdout.once('data', (d) => resolve(String(d))));
  const { watched, unwatched, token } = JSON.parse(line);
  assert.equal(typeof token, 'number');
  const exited = new Promise((r) => host.on('exit', r));
  host.kill('SIGKILL');
  await exited;
  const alive = (pid) => {
    try {
      return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  let t = 0;
  while (alive(watched) && t++ < 100) await sleep(20);
  const watchedAlive = alive(watched);
  const unwatchedAlive = alive(unwatched);
  for (const p of [watched, unwatched]) if (alive(p)) process.kill(p, 'SIGKILL');
  assert.equal(watchedAlive, false, 'the watched process died with its host');
  assert.equal(unwatchedAlive, true, 'an unwatched process is left alone');
});

test('kill -9 of `farm build` during a Vite build: the Vite worker dies with it', async () => {
  const dir = copyExample();
  writeFileSync(path.join(dir, 'farm.config.ts'), "export default { appName: 'farm-app', version: '1.0.0', frontend: { root: 'apps/web' } };\n");
  const farm = spawn(process.execPath, [FARM, 'build'], { cwd: dir, stdio: 'ignore' });
  const exited = new Promise((r) => farm.on('exit', r));
  const worker = () => processesMatching('vite-worker.mjs').filter((p) => processesIn(dir).includes(p));
  let workers = worker();
  for (let t = 0; !workers.length && t < 600; t++) {
    await sleep(50);
    workers = worker();
  }
  assert.ok(workers.length, 'the Vite worker never started');
  farm.kill('SIGKILL');
  await exited;
  const left = await survivors(dir, 2000);
  const what = describe(left);
  for (const p of left) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {}
  }
  assert.deepEqual(left, [], `left running: ${what}`);
});
