#!/usr/bin/env node
// `npm run build` (release), `npm run build:debug` and `prepare` (debug): the Node addon
// (`napi build`, with the `node-addon` feature) and the native `farm` executable (`cargo build --bin
// farm`, no napi), both for the host triple, so the two builds (and `cargo test --target <host>`,
// which scripts/test.mjs runs) share one set of compiled dependencies in target/<host>/<profile>.
// The executable is then copied to `farm-native` at the package root, where bin/farm.mjs
// finds it, and into the platform package directory (npm/<platform>/farm) that `napi prepublish`
// publishes. Usage: node scripts/build.mjs release|debug
import { chmodSync, copyFileSync, existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostTriple, run } from './setup.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const profile = process.argv[2];
if (profile !== 'release' && profile !== 'debug') {
  process.stderr.write('usage: node scripts/build.mjs release|debug\n');
  process.exit(2);
}

const triple = hostTriple();
const release = profile === 'release' ? ['--release'] : [];
const napi = path.join(REPO, 'node_modules', '.bin', process.platform === 'win32' ? 'napi.cmd' : 'napi');
run(napi, ['build', '--platform', ...release, '--features', 'node-addon', '--target', triple, '--', '--lib'], { cwd: REPO });
run('cargo', ['build', ...release, '--bin', 'farm', '--target', triple], { cwd: REPO });

const target = path.resolve(REPO, process.env.CARGO_TARGET_DIR ?? 'target');
const built = path.join(target, triple, profile, process.platform === 'win32' ? 'farm.exe' : 'farm');
if (!existsSync(built)) {
  process.stderr.write(`build: ${built} is missing after cargo build\n`);
  process.exit(1);
}

/** Copies through a temporary file, so a running `farm-native` is never half-written. */
function place(to) {
  const tmp = `${to}.${process.pid}.tmp`;
  copyFileSync(built, tmp);
  chmodSync(tmp, 0o755);
  renameSync(tmp, to);
  process.stdout.write(`build: ${path.relative(REPO, to)} (${profile})\n`);
}

place(path.join(REPO, 'farm-native'));
const platformDir = path.join(REPO, 'npm', process.platform === 'linux' ? `linux-${process.arch}-gnu` : `${process.platform}-${process.arch}`);
if (existsSync(platformDir)) place(path.join(platformDir, 'farm'));
