// Prepares a fresh clone: the addon, the example's npm deps and its Python venv.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
export const EXAMPLE = path.join(REPO, 'examples', 'farm-app');

export function run(cmd, args, opts = {}) {
  process.stderr.write(`$ ${[cmd, ...args].join(' ')}${opts.cwd ? `   (in ${path.relative(REPO, opts.cwd) || '.'})` : ''}\n`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    process.stderr.write(`\n✗ \`${[cmd, ...args].join(' ')}\` failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status || 1);
  }
}

/** The host triple, as rustc names it (`host: x86_64-unknown-linux-gnu`). */
export function hostTriple() {
  const r = spawnSync('rustc', ['-vV'], { encoding: 'utf8' });
  const m = r.status === 0 && /^host: (\S+)$/m.exec(r.stdout);
  if (!m) {
    process.stderr.write(`\`rustc -vV\` did not name the host triple (is Rust installed?)\n${r.stderr ?? ''}`);
    process.exit(1);
  }
  return m[1];
}

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/**
 * Builds the addon (`release`: always, cargo finds it fresh in seconds; `debug`: only when no
 * binary is there, e.g. when `npm ci` skipped `prepare`), installs the example's npm deps and
 * Python venv.
 */
export function setup(profile) {
  if (profile === 'release') run(npm, ['run', 'build'], { cwd: REPO });
  else if (!readdirSync(REPO).some((f) => f.endsWith('.node'))) run(npm, ['run', 'build:debug'], { cwd: REPO });
  if (!existsSync(path.join(EXAMPLE, 'node_modules', 'vite'))) {
    // --ignore-scripts: the example's only package with a lifecycle script is this repository
    // (linked as `file:../..`), whose `prepare` would build the addon a second time; it was built
    // above. (No other package in the example's lockfile has install scripts.)
    run(npm, ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: EXAMPLE });
  }
  const py = path.join(EXAMPLE, '.venv', 'bin', 'python');
  if (!existsSync(py)) {
    run('python3', ['-m', 'venv', '.venv'], { cwd: EXAMPLE });
    run(py, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', 'apps/api/requirements.txt'], { cwd: EXAMPLE });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) setup('debug');
