// `farm build`: runs the orchestrator and shows its progress (live lines on a TTY, plain lines
// otherwise, or the BuildResult as JSON).
import path from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { BuildOrchestrator, builtinTasks, loadConfig, renderBuildSummary } from '../index.mjs';
import { out, err, fmtMs, fmtBytes, defineCommand, wrap } from './util.mjs';
import { printAnalysis, writeTreemap } from './analyze.mjs';
import { captureFrontend, watch } from './watch.mjs';
import { JsProfiler, nowUs, summaryLine, whereTimeWent, writeTrace } from '../profile.mjs';

/** `farm build`'s flags: the parser and the help are made from this one table. */
export const BUILD = defineCommand({
  usage: 'farm build [options]',
  description: `Builds the tasks of the FARM project in the current directory (or --root) through the
native orchestrator, as configured in farm.config.* (\`farm init\` writes one).`,
  options: [
    {
      name: 'target',
      short: 't',
      type: 'string',
      multiple: true,
      arg: 'NAME',
      help: (ctx) => `Build only NAME and what it depends on; repeatable or
comma-separated. Targets:
${wrap(['all (default)', ...builtinTasks(), ...(ctx?.commandTasks ?? [])], 52)}${ctx?.commandTasks ? '' : '\nand every `tasks.<name>` of farm.config'}`,
    },
    { name: 'env', short: 'e', type: 'string', arg: 'ENV', help: 'production (default), development or staging' },
    { name: 'dev', help: 'Same as --env development (source maps, no minification)' },
    { name: 'continue', help: 'After a failure, keep running tasks that do not depend on it' },
    { name: 'concurrency', type: 'string', arg: 'N', help: 'Tasks run at once (default: build.concurrency, else CPU cores)' },
    { name: 'no-clean', help: 'Do not delete the outputs before building' },
    { name: 'no-cache', help: 'Neither read nor write the build cache' },
    { name: 'clear-cache', help: 'Empty the build cache first (entries, venvs, images)' },
    {
      name: 'verify-cache',
      help: 'For each cache hit, also run the task and compare its output with\nthe restored one; a difference fails the task and names the files\nand the likely undeclared inputs',
    },
    {
      name: 'upload',
      help: 'After a successful build, store the output files and build-manifest.json\nunder <prefix>/<buildId>/ in build.upload\'s store (else cache.remote\'s)',
    },
    { name: 'dry-run', help: "Print the plan with each task's cache key and hit/miss; build nothing" },
    { name: 'json', help: 'Print the BuildResult as JSON (and nothing else) on stdout' },
    { name: 'analyze', help: 'Print the bundle analysis and write\n<outputDir>/analysis/bundle-treemap.html' },
    {
      name: 'size-limit',
      type: 'string',
      arg: 'SIZE',
      help: 'Fail (exit 1) if a JS chunk or CSS file is over SIZE gzipped,\ne.g. 500KB (K = 1024); sets frontend.budgets.chunk',
    },
    {
      name: 'watch',
      help: "After the build, rebuild the frontend on source changes (Vite's\nwatcher) and re-run backend/types when backend files change;\nCtrl-C stops",
    },
    {
      name: 'profile',
      type: 'string',
      arg: 'FILE',
      help: 'Write a Chrome trace of the build to FILE (open it in\nui.perfetto.dev or chrome://tracing: config load, plan, walk,\nhashing, each task, restores, Vite, Python steps, manifest) and\nprint where the time went',
    },
    { name: 'root', type: 'string', arg: 'DIR', help: 'Project directory (default: the current directory)' },
  ],
  footer: 'Warnings are shown as they happen and again in the summary.\nExit codes: 0 success, 1 build failed or cancelled, 2 usage or config error.',
});

/** The help of `farm build`, listing the command tasks of the config in `root` when it loads. */
async function buildHelp(root) {
  const candidates = ['farm.config.ts', 'farm.config.mts', 'farm.config.mjs', 'farm.config.js', 'farm.config.json'];
  if (!candidates.some((c) => existsSync(path.join(root, c)))) return BUILD.help();
  try {
    const { config } = await loadConfig(root);
    return BUILD.help({ commandTasks: Object.keys(config.tasks ?? {}) });
  } catch {
    return BUILD.help();
  }
}

/** Runs `farm build ARGS`; resolves to the exit code. */
export async function build(args) {
  let opts;
  try {
    opts = BUILD.parse(args).values;
  } catch (e) {
    err(`farm build: ${e.message}\n`);
    err(BUILD.help());
    return 2;
  }
  if (opts.help) {
    out(await buildHelp(path.resolve(opts.root ?? process.cwd())));
    return 0;
  }
  const envName = opts.dev ? 'development' : opts.env;
  if (envName && !['production', 'development', 'staging'].includes(envName)) {
    err(`farm build: --env ${envName}: expected production, development or staging`);
    return 2;
  }
  let concurrency;
  if (opts.concurrency !== undefined) {
    concurrency = Number(opts.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      err(`farm build: --concurrency ${opts.concurrency}: expected a whole number ≥ 1`);
      return 2;
    }
  }
  const root = path.resolve(opts.root ?? process.cwd());
  const targets = (opts.target ?? []).flatMap((t) => t.split(',')).filter(Boolean);
  if (opts.profile === '') {
    err('farm build: --profile: expected a file name, e.g. --profile trace.json');
    return 2;
  }
  const prof = new JsProfiler(opts.profile !== undefined);
  prof.record('node start, imports', 'startup', performance.timeOrigin * 1000);

  let orch;
  try {
    const { config, configFile, plugins } = await prof.span('config load', 'config', () => loadConfig(root, undefined, { cache: !opts['no-cache'] }));
    const planned = nowUs();
    if (envName) config.environment = envName;
    if (opts['size-limit'] !== undefined) {
      if (!config.frontend) throw Object.assign(new Error('--size-limit: the config has no `frontend` section'), { code: 'CONFIG_INVALID' });
      config.frontend = { ...config.frontend, budgets: { ...config.frontend.budgets, chunk: opts['size-limit'] } };
    }
    orch = new BuildOrchestrator(config, { root, configFile });
    orch.plan(targets);
    orch.__plugins = plugins;
    prof.record('validate config, plan', 'plan', planned);
  } catch (e) {
    if (opts.json) out(JSON.stringify({ success: false, error: { code: e.code ?? 'CONFIG_INVALID', message: e.message } }, null, 2));
    else err(`✗ ${e.message}`);
    return 2;
  }

  if (opts['clear-cache']) {
    const r = orch.cacheClean();
    if (!opts.json) out(`cache cleared: ${r.entries} entries, ${r.venvs} venvs, ${r.images} images, ${fmtBytes(r.bytesFreed)} freed`);
  }
  if (opts['dry-run']) {
    // Rendered in Rust, as the native executable renders it: both paths print the same bytes.
    process.stdout.write(orch.dryRunText(targets, Boolean(opts.json)));
    return 0;
  }
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    if (!opts.json) err('\nCancelling… (Ctrl-C again to force)');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);

  const view = opts.json ? null : process.stdout.isTTY ? new LiveView() : new PlainView();
  view?.header(orch.config, targets);
  const capture = opts.watch ? captureFrontend() : null;
  const result = await orch.build(targets, {
    ...capture?.options,
    signal: controller.signal,
    plugins: orch.__plugins,
    continueOnError: opts.continue ? true : undefined,
    concurrency,
    clean: opts['no-clean'] ? false : undefined,
    noCache: opts['no-cache'] ? true : undefined,
    verifyCache: opts['verify-cache'] ? true : undefined,
    upload: opts.upload ? true : undefined,
    profile: prof.on || undefined,
    onEvent: view ? (events) => view.events(events) : undefined,
  });
  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigint);
  if (prof.on) {
    const profile = result.profile;
    delete result.profile;
    const code = writeProfile(opts.profile, prof, profile, result, Boolean(opts.json));
    if (code) return code;
  }
  if (opts.json) out(JSON.stringify(result, null, 2));
  else view.summary(result);
  if (prof.on && !opts.json) out(prof.summary);
  if (opts.analyze) showAnalysis(orch.config, root, Boolean(opts.json));
  if (opts.watch && !controller.signal.aborted) {
    return watch({ orch, root, targets, capture, buildOptions: { plugins: orch.__plugins, concurrency, noCache: opts['no-cache'] ? true : undefined } });
  }
  if (result.success) return 0;
  return result.error?.code === 'CONFIG_INVALID' ? 2 : 1;
}

/** `--profile FILE`: writes the trace (JS spans + the orchestrator's) and keeps the summary line. */
function writeProfile(file, prof, profile, result, quiet) {
  const wall = { name: 'farm build', cat: 'phase', ts: performance.timeOrigin * 1000, dur: 0, lane: 0 };
  wall.dur = nowUs() - wall.ts;
  const spans = [wall, ...prof.spans];
  prof.summary = summaryLine(whereTimeWent([...spans, ...(profile?.spans ?? [])], wall), fmtMs);
  try {
    writeTrace(path.resolve(file), spans, profile, { buildId: result.buildId, success: result.success, summary: prof.summary });
  } catch (e) {
    err(`farm build: --profile ${file}: could not write the trace: ${e.message}`);
    return 1;
  }
  if (!quiet) prof.summary += `\nprofile: ${file} (open in https://ui.perfetto.dev or chrome://tracing)`;
  return 0;
}

/** `--analyze`: prints the bundle analysis and writes the treemap page beside it. */
function showAnalysis(cfg, root, quiet) {
  const file = path.join(root, cfg.outputDir, 'analysis', 'bundle-analysis.json');
  if (!existsSync(file)) {
    if (!quiet) err('--analyze: no bundle analysis (the frontend was not built)');
    return;
  }
  const analysis = JSON.parse(readFileSync(file, 'utf8'));
  const html = path.join(root, cfg.outputDir, 'analysis', 'bundle-treemap.html');
  writeTreemap(analysis, html);
  if (quiet) return;
  out('');
  printAnalysis(analysis);
  out(`treemap: ${path.relative(root, html)}`);
}

const ICON = { succeeded: '✓', failed: '✗', skipped: '-', cancelled: '⊘', running: '…', queued: '·' };

class PlainView {
  constructor() {
    this.logs = new Map();
  }
  header(cfg, targets) {
    out(`farm build · ${cfg.appName}@${cfg.version} · ${cfg.environment} · targets: ${targets.length ? targets.join(', ') : 'all'}`);
  }
  keepLog(e) {
    const l = this.logs.get(e.task) ?? [];
    l.push(e.message);
    if (l.length > 30) l.shift();
    this.logs.set(e.task, l);
  }
  events(events) {
    for (const e of events) {
      if (e.kind === 'log') this.keepLog(e);
      else if (e.kind === 'task-started') out(`▶ ${e.task}`);
      else if (e.kind === 'task-finished') out(`${ICON.succeeded} ${e.task} (${fmtMs(e.durationMs)})`);
      else if (e.kind === 'task-failed') out(`${ICON.failed} ${e.task} failed (${fmtMs(e.durationMs)})`);
      else if (e.kind === 'task-cancelled') out(`${ICON.cancelled} ${e.task} cancelled`);
      else if (e.kind === 'task-skipped') out(`${ICON.skipped} ${e.task} skipped: ${e.message}`);
      else if (e.kind === 'warning') out(`! ${e.task ? `${e.task}: ` : ''}${e.message}`);
    }
  }
  /** The summary: rendered by the addon, the same renderer as the native executable's. */
  summary(r) {
    const { stdout, stderr } = renderBuildSummary(r);
    process.stdout.write(stdout);
    if (stderr) process.stderr.write(stderr);
  }
}

/** On a TTY: one live line per task (status, time), redrawn in place, then the summary table. */
class LiveView extends PlainView {
  constructor() {
    super();
    this.tasks = new Map();
    this.drawn = 0;
    this.timer = setInterval(() => this.draw(), 100);
    this.timer.unref();
  }
  events(events) {
    for (const e of events) {
      const t = e.task && this.tasks.get(e.task);
      if (e.kind === 'task-queued') this.tasks.set(e.task, { status: 'queued', start: 0, ms: 0, last: '' });
      else if (e.kind === 'log') {
        this.keepLog(e);
        if (t) t.last = e.message;
      } else if (e.kind === 'task-started' && t) Object.assign(t, { status: 'running', start: performance.now() });
      else if (e.kind === 'task-finished' && t) Object.assign(t, { status: 'succeeded', ms: e.durationMs });
      else if (e.kind === 'task-failed' && t) Object.assign(t, { status: 'failed', ms: e.durationMs });
      else if (e.kind === 'task-cancelled' && t) Object.assign(t, { status: 'cancelled', ms: e.durationMs });
      else if (e.kind === 'task-skipped' && t) Object.assign(t, { status: 'skipped', last: e.message });
      else if (e.kind === 'warning') this.above(`! ${e.task ? `${e.task}: ` : ''}${e.message}`);
    }
    this.draw();
  }
  /** Prints a line that stays (above the live lines, which are redrawn below it). */
  above(line) {
    let s = this.drawn ? `\x1b[${this.drawn}F\x1b[0J` : '';
    s += `${line}\n`;
    this.drawn = 0;
    process.stdout.write(s);
  }
  draw() {
    const cols = process.stdout.columns || 100;
    let s = this.drawn ? `\x1b[${this.drawn}F` : '';
    for (const [name, t] of this.tasks) {
      const ms = t.status === 'running' ? performance.now() - t.start : t.ms;
      const line = `${ICON[t.status]} ${name.padEnd(10)} ${t.status.padEnd(9)} ${ms ? fmtMs(ms).padStart(7) : '       '}  ${t.last ?? ''}`;
      s += `\x1b[2K${line.slice(0, cols - 1)}\n`;
    }
    this.drawn = this.tasks.size;
    process.stdout.write(s);
  }
  summary(r) {
    clearInterval(this.timer);
    this.draw();
    super.summary(r);
  }
}

