// `farm build --watch`: after the first build, Vite's own watcher rebuilds the frontend on source
// changes (writing into <outputDir>/<frontend.outDir>, then re-analysing the bundle), and the
// backend (and types) tasks re-run when a file under `backend.root` changes. One line per rebuild.
// The project's warm-mode daemon runs in this process meanwhile (when none runs already).
// Ctrl-C (SIGINT) or SIGTERM stops everything and exits 0.
import { createRequire } from 'node:module';
import { watch as fsWatch, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createViteRunner, startViteWatch } from '../vite-runner.mjs';
import { out, err, fmtBytes, fmtMs } from './util.mjs';

const native = createRequire(import.meta.url)('../../index.js');
const IGNORED = /(^|[\\/])(__pycache__|\.pytest_cache|\.mypy_cache|\.venv|venv|node_modules|\.git)([\\/]|$)|(^|[\\/])\.[^\\/]*$|\.py[co]$|~$/;

/** A Vite runner for `orch.build` options that remembers the frontend request it was given. */
export function captureFrontend() {
  const runner = createViteRunner();
  let request = null;
  return {
    get request() {
      return request;
    },
    options: {
      frontendRunner: (req) => {
        request = req;
        return runner.run(req);
      },
      cancelFrontend: runner.cancel,
    },
    dispose: runner.dispose,
  };
}

/** The in-process daemon's idle timeout: it lives as long as the watch (stopped explicitly). */
const WATCH_DAEMON_IDLE_MS = 7 * 24 * 3600 * 1000;

const firstLine = (s) => String(s ?? '').split('\n').find((l) => l.trim()) ?? '';

/**
 * Watches until SIGINT/SIGTERM; resolves to the exit code (0).
 * @param {{ orch: any, root: string, targets: string[], capture: ReturnType<typeof captureFrontend>,
 *           buildOptions: object, json?: boolean }} w
 */
export async function watch({ orch, root, targets, capture, buildOptions = {} }) {
  const cfg = orch.config;
  const planned = new Set(orch.plan(targets).map((t) => t.name));
  const outputDir = path.join(root, cfg.outputDir);
  const stops = [];
  let stopping = false;
  let code = 0;
  let done;
  const finished = new Promise((r) => (done = r));

  // Frontend: Vite's watcher, fed the same request as the build's frontend task.
  if (planned.has('frontend') && cfg.frontend) {
    let request = capture.request;
    if (!request) {
      // The frontend came from the build cache (the runner was not called): build it once more
      // for its request, without touching the other outputs.
      await orch.build(['frontend'], { ...buildOptions, ...capture.options, noCache: true, clean: false });
      request = capture.request;
    }
    capture.dispose();
    if (request) {
      const webDir = path.join(outputDir, cfg.frontend.outDir);
      const budgets = cfg.frontend.budgets;
      const rel = (p) => path.relative(root, p) || '.';
      let ready = false;
      const vite = startViteWatch({ ...request, taskId: 'watch', outDir: webDir }, async (msg) => {
        if (msg.type === 'rebuilt') {
          if (msg.first) {
            ready = true;
            out(`watching ${rel(request.root)} (Vite)${planned.has('backend') && cfg.backend ? ` and ${rel(path.join(root, cfg.backend.root))} (${[...planned].filter((t) => t === 'backend' || t === 'types').join(', ')})` : ''} · Ctrl-C to stop`);
            return;
          }
          let sizes = '';
          try {
            const analysis = await native.analyzeBundle(webDir, msg.chunks);
            mkdirSync(path.join(outputDir, 'analysis'), { recursive: true });
            writeFileSync(path.join(outputDir, 'analysis', 'bundle-analysis.json'), `${JSON.stringify(analysis, null, 2)}\n`);
            sizes = ` · JS+CSS ${fmtBytes(analysis.codeTotals.gzip)} gzip`;
            if (budgets) {
              const b = native.checkBudgets(analysis, budgets);
              if (b.violations.length) sizes += ` · over budget: ${b.violations.map((v) => v.name).join(', ')}`;
            }
          } catch (e) {
            sizes = ` · analysis failed: ${firstLine(e.message)}`;
          }
          const saved = msg.images?.savedBytes ? ` · images -${fmtBytes(msg.images.savedBytes)}` : '';
          const changed = msg.changed.length ? ` · ${msg.changed.slice(0, 3).join(', ')}${msg.changed.length > 3 ? ` +${msg.changed.length - 3}` : ''}` : '';
          if (!stopping) out(`↻ frontend rebuilt in ${fmtMs(msg.durationMs ?? 0)}${changed}${sizes}${saved}`);
        } else if (msg.type === 'error') {
          if (!stopping) err(`✗ frontend: ${firstLine(msg.error?.message)}`);
          if (msg.fatal) {
            code = 1;
            done();
          }
        } else if (msg.type === 'exit' && !stopping) {
          err(`✗ the Vite watcher exited (${msg.signal ?? `code ${msg.code}`})${ready ? '' : `:\n${msg.logs.join('\n')}`}`);
          code = 1;
          done();
        }
      });
      stops.push(() => vite.stop());
    }
  } else {
    capture.dispose();
  }

  // Backend and types: re-run when a file under backend.root changes (debounced, one at a time).
  const backendTargets = ['types', 'backend'].filter((t) => planned.has(t)).slice(0, 1);
  if (backendTargets.length && cfg.backend) {
    const dir = path.join(root, cfg.backend.root);
    let timer = null;
    let running = null;
    let pending = new Set();
    let controller = null;
    const run = async () => {
      if (running) return;
      const changed = [...pending];
      pending = new Set();
      controller = new AbortController();
      const t0 = performance.now();
      running = orch.build(backendTargets, { ...buildOptions, clean: false, signal: controller.signal });
      const r = await running;
      running = null;
      if (!stopping) {
        const names = r.tasks.map((t) => t.name).join(', ');
        const what = ` · ${changed.slice(0, 3).join(', ')}${changed.length > 3 ? ` +${changed.length - 3}` : ''}`;
        if (r.success) out(`↻ ${names} rebuilt in ${fmtMs(performance.now() - t0)}${what}`);
        else {
          const failed = r.tasks.find((t) => t.status === 'failed');
          err(`✗ ${failed?.name ?? 'backend'} failed${what}: ${firstLine(failed?.message ?? r.error?.message)}`);
        }
      }
      if (pending.size && !stopping) run();
    };
    const w = fsWatch(dir, { recursive: true }, (_event, name) => {
      if (!name || IGNORED.test(name) || stopping) return;
      pending.add(String(name).split(path.sep).join('/'));
      clearTimeout(timer);
      timer = setTimeout(run, 150);
    });
    stops.push(async () => {
      clearTimeout(timer);
      w.close();
      controller?.abort();
      await running;
    });
  }

  if (!stops.length) {
    err('farm build --watch: nothing to watch (no frontend or backend task in the plan)');
    return 2;
  }
  // Warm mode while watching: unless a daemon already runs for the project (or FARM_NO_DAEMON is
  // set), this process serves it, so `farm build` in another terminal (either CLI) gets its input
  // walks from memory. It stops with the watch, and dies with this process if it is killed.
  if (!process.env.FARM_NO_DAEMON) {
    const cacheDir = path.resolve(root, cfg.cacheDir);
    try {
      if (!native.daemonStatus(root, cacheDir)) {
        const served = native.daemonServe(root, cacheDir, WATCH_DAEMON_IDLE_MS).catch((e) => err(`! warm mode: ${firstLine(e.message)}`));
        out(`warm mode: this process serves the project's daemon while it watches (farm daemon status)`);
        stops.push(async () => {
          try {
            native.daemonStop(root, cacheDir);
          } catch (e) {
            err(`! warm mode: ${firstLine(e.message)}`);
          }
          await served;
        });
      }
    } catch (e) {
      err(`! warm mode: ${firstLine(e.message)}`);
    }
  }
  const onSignal = () => done();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await finished;
  stopping = true;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  out('stopping…');
  await Promise.all(stops.map((s) => s()));
  return code;
}
