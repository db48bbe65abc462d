// The frontend runner the orchestrator calls through napi: each Vite build runs in a child Node
// process (js/vite-worker.mjs), so a cancelled build is really stopped (the process is killed) and
// Rolldown's direct writes to stdout do not mix with the CLI's output.
//
// A worker never outlives farm: it exits when its IPC channel to farm closes, and it is registered
// with farm's process watchdog, which SIGKILLs it if farm dies (see src/run/lifeline.rs).
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const native = createRequire(import.meta.url)('../index.js');

const WORKER = fileURLToPath(new URL('./vite-worker.mjs', import.meta.url));
const KEEP_LINES = 200;

/** Registers `child` with the watchdog until it exits. */
function lifeline(child) {
  const token = child.pid === undefined ? null : native.watchProcess(child.pid);
  if (token != null) child.once('exit', () => native.unwatchProcess(token));
}

/** Creates `{ run(request), cancel(taskId), dispose() }` for `BuildOrchestrator#build` options. */
export function createViteRunner() {
  const running = new Map();

  function run(request) {
    return new Promise((resolve, reject) => {
      const child = fork(WORKER, [], {
        cwd: request.root,
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
        serialization: 'advanced',
      });
      lifeline(child);
      const logs = [];
      const keep = (chunk) => {
        for (const line of String(chunk).split('\n')) {
          if (line.trim() === '') continue;
          logs.push(line);
          if (logs.length > KEEP_LINES) logs.shift();
        }
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      let settled = false;
      const entry = { child, cancelled: false };
      running.set(request.taskId, entry);
      const done = (fn, value) => {
        if (settled) return;
        settled = true;
        running.delete(request.taskId);
        fn(value);
      };
      child.on('message', (msg) => {
        if (msg?.type !== 'result') return;
        if (msg.ok) done(resolve, { ...msg.result, logs: [...logs, ...(msg.result.logs ?? [])] });
        else {
          const err = new Error(msg.error.message);
          Object.assign(err, msg.error);
          done(reject, err);
        }
      });
      child.on('error', (e) => done(reject, e));
      child.on('exit', (code, signal) => {
        if (entry.cancelled) done(reject, Object.assign(new Error('vite build cancelled'), { code: 'CANCELLED' }));
        else done(reject, new Error(`vite worker exited (${signal ?? `code ${code}`}) without a result:\n${logs.slice(-20).join('\n')}`));
      });
      child.send({ type: 'build', request });
    });
  }

  function cancel(taskId) {
    const entry = running.get(taskId);
    if (!entry) return;
    entry.cancelled = true;
    entry.child.kill('SIGTERM');
    const t = setTimeout(() => entry.child.kill('SIGKILL'), 2000);
    t.unref();
  }

  function dispose() {
    for (const id of [...running.keys()]) cancel(id);
  }

  return { run, cancel, dispose };
}

/**
 * Starts Vite's watcher for `request` in a child process. `onMessage` receives its messages:
 * `{ type: 'watching' }`, `{ type: 'rebuilt', first, durationMs, changed, outDir, chunks, images }`,
 * `{ type: 'error', error, fatal? }`, `{ type: 'exit', code, signal }`. Returns `{ stop() }`, which
 * closes the watcher and resolves once the process is gone (killed after 3 s if it hangs).
 */
export function startViteWatch(request, onMessage) {
  const child = fork(WORKER, [], {
    cwd: request.root,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
    serialization: 'advanced',
  });
  lifeline(child);
  const tail = [];
  const keep = (chunk) => {
    for (const line of String(chunk).split('\n')) {
      if (line.trim() === '') continue;
      tail.push(line);
      if (tail.length > KEEP_LINES) tail.shift();
    }
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      onMessage({ type: 'exit', code, signal, logs: tail.slice(-20) });
      resolve();
    });
  });
  child.on('message', (msg) => onMessage(msg));
  child.send({ type: 'watch', request });

  async function stop() {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (child.connected) child.send({ type: 'stop' });
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }
  return { stop, child };
}
