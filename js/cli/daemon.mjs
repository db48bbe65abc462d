// `farm daemon start|stop|status`: warm mode. The daemon is a detached Node process running the
// addon's daemon (src/daemon): it keeps the project's input walks in memory, invalidated by
// file-system events, and `farm build` asks it over a local socket (falling back to its own walk
// when none runs or it runs another version).
import path from 'node:path';
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { out, err, fmtMs, defineCommand } from './util.mjs';

const native = createRequire(import.meta.url)('../../index.js');
const FARM_BIN = fileURLToPath(new URL('../../bin/farm.mjs', import.meta.url));
/** Default idle timeout: 3 h (`FARM_DAEMON_IDLE_MS` overrides). */
const IDLE_MS = 3 * 3600 * 1000;

/** `farm daemon`'s flags: the parser and the help are made from this one table. */
export const DAEMON = defineCommand({
  usage: 'farm daemon start|stop|status [--root DIR]',
  description: `Warm mode: a background process per project that keeps the input walks of its
tasks in memory, invalidated by file-system events; \`farm build\` asks it
over a local socket and falls back to its own walk when it is absent,
stale or another version. It exits on \`stop\`, when the project directory
disappears, or after ${IDLE_MS / 3600000} h without a build (FARM_DAEMON_IDLE_MS).
FARM_NO_DAEMON=1 makes a build ignore it; FARM_DAEMON_DEBUG=1 says why a
build does not use it.`,
  positionals: true,
  options: [
    { name: 'root', type: 'string', arg: 'DIR', help: 'Project directory (default: the current directory)' },
    { name: 'json', help: 'status: print the status as JSON' },
  ],
  footer: 'Exit codes: 0 success (status: a daemon runs), 1 none runs (status) or it failed, 2 usage error.',
});

/** The project's cache dir, as the config resolves it. */
async function cacheDirOf(root) {
  const { loadConfig, validateConfig } = await import('../index.mjs');
  const { config, configFile } = await loadConfig(root);
  const cfg = validateConfig(config, configFile);
  return path.resolve(root, cfg.cacheDir);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs `farm daemon ARGS`; resolves to the exit code. */
export async function daemon(args) {
  let parsed;
  try {
    parsed = DAEMON.parse(args);
  } catch (e) {
    err(`farm daemon: ${e.message}\n`);
    err(DAEMON.help());
    return 2;
  }
  const opts = parsed.values;
  const [action, ...extra] = parsed.positionals;
  if (opts.help) {
    out(DAEMON.help());
    return 0;
  }
  if (!['start', 'stop', 'status', 'serve'].includes(action) || extra.length) {
    err(`farm daemon: expected start, stop or status${action ? `, got \`${[action, ...extra].join(' ')}\`` : ''}\n`);
    err(DAEMON.help());
    return 2;
  }
  const root = path.resolve(opts.root ?? process.cwd());
  let cacheDir;
  try {
    cacheDir = await cacheDirOf(root);
  } catch (e) {
    err(`✗ ${e.message}`);
    return 2;
  }
  const idleMs = Number(process.env.FARM_DAEMON_IDLE_MS) > 0 ? Number(process.env.FARM_DAEMON_IDLE_MS) : IDLE_MS;
  const logFile = path.join(cacheDir, 'daemon', 'daemon.log');

  if (action === 'serve') {
    // The daemon itself (started by `start`, detached). Keep the loop alive while it serves.
    const keepAlive = setInterval(() => {}, 1 << 30);
    out(`${new Date().toISOString()} farm daemon ${process.pid} starting for ${root}`);
    try {
      const why = await native.daemonServe(root, cacheDir, idleMs);
      out(`${new Date().toISOString()} farm daemon ${process.pid} exits: ${why}`);
      return 0;
    } catch (e) {
      err(`${new Date().toISOString()} farm daemon ${process.pid}: ${e.message}`);
      return 1;
    } finally {
      clearInterval(keepAlive);
    }
  }

  if (action === 'status') {
    const s = native.daemonStatus(root, cacheDir);
    if (opts.json) out(JSON.stringify(s, null, 2));
    else if (!s) out(`no daemon runs for ${root}`);
    else {
      out(`farm daemon · pid ${s.pid} · up ${fmtMs(s.uptimeMs)} · ${s.root}`);
      out(`builds served ${s.builds} · walks from memory ${s.memoHits} · walks done ${s.walks}`);
      out(`watcher: ${s.watcher} · socket ${s.socket} · idle timeout ${fmtMs(s.idleTimeoutMs)}`);
    }
    return s ? 0 : 1;
  }

  if (action === 'stop') {
    const was = native.daemonStop(root, cacheDir);
    out(was ? `farm daemon stopped (${root})` : `no daemon runs for ${root}`);
    return 0;
  }

  // start
  const running = native.daemonStatus(root, cacheDir);
  if (running) {
    out(`farm daemon already runs (pid ${running.pid})`);
    return 0;
  }
  mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [FARM_BIN, 'daemon', 'serve', '--root', root], {
    cwd: root,
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, FARM_DAEMON_IDLE_MS: String(idleMs) },
  });
  closeSync(fd);
  let exited = null;
  // A daemon killed by a signal has no exit code: say which signal, rather than wait 30 s.
  child.on('exit', (code, signal) => {
    exited = code ?? signal ?? 'unknown';
  });
  child.unref();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && exited === null) {
    const s = native.daemonStatus(root, cacheDir);
    if (s) {
      out(`farm daemon started (pid ${s.pid}, ${s.watcher}); log: ${path.relative(root, logFile)}`);
      return 0;
    }
    await sleep(20);
  }
  if (exited === null) {
    // Alive but not answering: stop it rather than leave a daemon no build can reach.
    try {
      process.kill(child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n') : '';
  err(`✗ farm daemon did not start${exited !== null ? ` (exit ${exited})` : ' within 30 s'}${log ? `:\n${log}` : ''}`);
  if (exited === null) child.kill('SIGTERM');
  return 1;
}
