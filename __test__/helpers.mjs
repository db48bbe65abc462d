// Shared helpers for the node:test suites.
import { mkdtempSync, mkdirSync, writeFileSync, cpSync, symlinkSync, existsSync, readdirSync, readFileSync, readlinkSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
export const EXAMPLE = path.join(REPO, 'examples', 'farm-app');
export const FARM = path.join(REPO, 'bin', 'farm.mjs');

/** A temp project directory with the given files ({ relPath: content }). */
export function project(files) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'farm-test-'));
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(dir, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, content);
    if (rel.endsWith('.sh')) chmodSync(p, 0o755);
  }
  return dir;
}

/** A copy of the example app (sources only) with its node_modules and .venv linked in. */
export function copyExample() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'farm-e2e-'));
  const skip = new Set(['node_modules', 'dist', '.venv', '.farm', '__pycache__', '.pytest_cache']);
  cpSync(EXAMPLE, dir, { recursive: true, filter: (src) => !skip.has(path.basename(src)) });
  symlinkSync(path.join(EXAMPLE, 'node_modules'), path.join(dir, 'node_modules'));
  // Copies share the production-venv cache (keyed by requirements and interpreter, locked per key),
  // so only the first build of a test run installs FastAPI.
  const venvs = path.join(os.tmpdir(), `farm-test-venvs-${process.getuid?.() ?? 0}`);
  mkdirSync(venvs, { recursive: true });
  mkdirSync(path.join(dir, '.farm/cache'), { recursive: true });
  symlinkSync(venvs, path.join(dir, '.farm/cache/venvs'));
  if (existsSync(path.join(EXAMPLE, '.venv'))) symlinkSync(path.join(EXAMPLE, '.venv'), path.join(dir, '.venv'));
  return dir;
}

/** Every file under `dir`, relative, with `/`. */
export function walk(dir, base = dir, { links = true } = {}) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p, base, { links }));
    else if (links || !e.isSymbolicLink()) out.push(path.relative(base, p).split(path.sep).join('/'));
  }
  return out.sort();
}

/** Pids of live processes whose command line contains `needle`. */
export function processesMatching(needle) {
  const pids = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (cmd.includes(needle) && !/\) Z /.test(stat)) pids.push(Number(pid));
    } catch {}
  }
  return pids;
}

/** Pids of live processes whose working directory is under `dir`. */
export function processesIn(dir) {
  const pids = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if ((cwd === dir || cwd.startsWith(`${dir}/`)) && !/\) Z /.test(stat)) pids.push(Number(pid));
    } catch {}
  }
  return pids;
}

/** A fake Python for cancellation tests: answers the version probe, then hangs (writing its pid). */
export function hangingPython(pidFile) {
  return `#!/bin/sh
case "$*" in
  *version_info*) echo 3.11.0; exit 0 ;;
esac
echo $$ > ${JSON.stringify(pidFile)}
exec sleep 60
`;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
