// `farm cache status | clean | why | diff`: the build cache from the command line.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BuildOrchestrator, diffDryRuns } from '../index.mjs';
import { out, err, fmtBytes, table, defineCommand } from './util.mjs';

/** `farm cache`'s flags: the parser and the help are made from this one table. */
export const CACHE = defineCommand({
  usage: 'farm cache <command> [options]',
  description: `Commands:
  status                       Entries, venvs, images, sizes, oldest entry, hits/misses of recent builds
  clean [--older-than 3d] [--max-size 1G]
                               Remove entries, venvs and image results unused for longer than the
                               age, then trim to the size (least recently used first); with
                               neither option, empty every store
  why <task>                   What changed since <task>'s last cached build: files added,
                               removed, modified; env vars; config keys; tool versions
  diff <a.json> <b.json>       Compare two \`farm build --dry-run --json\` outputs (e.g. a laptop's
                               and CI's) task by task: input files added, removed or changed, env
                               vars (by name, never values), tool versions, config keys,
                               dependency keys, machine-bound facts. Exit 0 when every key
                               agrees, 1 when a task differs, 2 for a bad file`,
  positionals: true,
  options: [
    { name: 'older-than', type: 'string', arg: 'AGE', help: '`clean`: entries unused for longer, e.g. 3d, 12h' },
    { name: 'max-size', type: 'string', arg: 'SIZE', help: '`clean`: trim to this size, e.g. 1G, 500MB' },
    { name: 'json', help: 'Print JSON' },
    { name: 'root', type: 'string', arg: 'DIR', help: 'Project directory (default: the current directory)' },
  ],
});
export const CACHE_HELP = CACHE.help();

const ago = (ms) => {
  if (ms == null) return '-';
  const s = Math.max(0, (Date.now() - ms) / 1000);
  return s < 90 ? `${Math.round(s)}s ago` : s < 5400 ? `${Math.round(s / 60)}m ago` : s < 129600 ? `${Math.round(s / 3600)}h ago` : `${Math.round(s / 86400)}d ago`;
};

/** Runs `farm cache ARGS`; resolves to the exit code. */
export async function cache(args) {
  let parsed;
  try {
    parsed = CACHE.parse(args);
  } catch (e) {
    err(`farm cache: ${e.message}\n`);
    err(CACHE_HELP);
    return 2;
  }
  const { values: o, positionals: [sub, ...rest] } = parsed;
  if (o.help || !sub) {
    (o.help ? out : err)(CACHE_HELP);
    return o.help ? 0 : 2;
  }
  if (sub === 'diff') return diff(rest, o);
  let orch;
  try {
    orch = await BuildOrchestrator.fromProject(path.resolve(o.root ?? process.cwd()));
  } catch (e) {
    err(`✗ ${e.message}`);
    return 2;
  }
  try {
    if (sub === 'status') {
      const s = orch.cacheStatus();
      if (o.json) return out(JSON.stringify(s, null, 2)), 0;
      out(`cache ${s.dir}`);
      table(['entries', 'venvs', 'images', 'size', 'oldest', 'newest', 'hits', 'misses', 'restore failures'], [
        [
          s.entries,
          `${s.venvs.count} (${fmtBytes(s.venvs.bytes)})`,
          `${s.images.count} (${fmtBytes(s.images.bytes)})`,
          fmtBytes(s.totalBytes),
          ago(s.oldestEntry),
          ago(s.newestEntry),
          s.hits,
          s.misses,
          s.restoreFailures,
        ],
      ]);
      return 0;
    }
    if (sub === 'clean') {
      const r = orch.cacheClean(o['older-than'], o['max-size']);
      if (o.json) out(JSON.stringify(r, null, 2));
      else out(`removed ${r.entries} entries, ${r.venvs} venvs, ${r.images} images, freed ${fmtBytes(r.bytesFreed)}; cache is now ${fmtBytes(r.bytesAfter)}`);
      return 0;
    }
    if (sub === 'why') {
      const [task] = rest;
      if (!task) {
        err('farm cache why: name a task, e.g. `farm cache why frontend`');
        return 2;
      }
      const w = orch.cacheWhy(task);
      if (o.json) out(JSON.stringify(w, null, 2));
      else for (const l of w.lines) out(l);
      return 0;
    }
  } catch (e) {
    err(`✗ ${e.message}`);
    return e.code === 'CONFIG_INVALID' ? 2 : 1;
  }
  err(`farm cache: unknown command \`${sub}\`\n`);
  err(CACHE_HELP);
  return 2;
}

/** `farm cache diff A B`: 0 when the dry runs agree, 1 when a task differs, 2 for bad input. */
function diff(files, o) {
  if (files.length !== 2) {
    err('farm cache diff: name two files written by `farm build --dry-run --json`, e.g. `farm cache diff laptop.json ci.json`');
    return 2;
  }
  const texts = [];
  for (const f of files) {
    try {
      texts.push(readFileSync(f, 'utf8'));
    } catch (e) {
      err(`✗ ${f}: cannot be read (${e.code ?? e.message}): write it with \`farm build --dry-run --json > ${f}\``);
      return 2;
    }
  }
  let d;
  try {
    d = diffDryRuns(texts[0], files[0], texts[1], files[1]);
  } catch (e) {
    err(`✗ ${e.message}`);
    return 2;
  }
  if (o.json) out(JSON.stringify(d, null, 2));
  else for (const l of d.lines) out(l);
  return d.identical ? 0 : 1;
}
