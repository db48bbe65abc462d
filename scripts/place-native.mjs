#!/usr/bin/env node
// `npm run build` (and `prepare`, `build:debug`): copies the native `farm` executable cargo built
// (`cargo build [--release] --bin farm`) to `farm-native` at the package root, where bin/farm.mjs
// finds it, and into the platform package directory (npm/<platform>/farm) that `napi prepublish`
// publishes. Usage: node scripts/place-native.mjs release|debug
import { chmodSync, copyFileSync, existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const profile = process.argv[2] === 'debug' ? 'debug' : 'release';
const target = path.resolve(REPO, process.env.CARGO_TARGET_DIR ?? 'target');
const built = path.join(target, profile, 'farm');
if (!existsSync(built)) {
  process.stderr.write(`place-native: ${built} is missing: run \`cargo build${profile === 'release' ? ' --release' : ''} --bin farm\` first\n`);
  process.exit(1);
}

/** Copies through a temporary file, so a running `farm-native` is never half-written. */
function place(to) {
  const tmp = `${to}.${process.pid}.tmp`;
  copyFileSync(built, tmp);
  chmodSync(tmp, 0o755);
  renameSync(tmp, to);
  process.stdout.write(`place-native: ${path.relative(REPO, to)} (${profile})\n`);
}

place(path.join(REPO, 'farm-native'));
const platformDir = path.join(REPO, 'npm', process.platform === 'linux' ? `linux-${process.arch}-gnu` : `${process.platform}-${process.arch}`);
if (existsSync(platformDir)) place(path.join(platformDir, 'farm'));
