// The native `farm` executable (src/bin/farm.rs), built beside the addon: `farm-native` at the
// package root (`npm run build`), or `farm` in the platform package. It answers `farm build` when
// every task is a cache hit, without Node; when it cannot, it exits with HANDBACK_EXIT (having
// printed and built nothing) and this Node process runs the command itself.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PKG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The exit code by which the executable hands a command back (`HANDBACK_EXIT` in src/cli/mod.rs). */
export const HANDBACK_EXIT = 87;

/** The platform package's name suffix (the only one built: linux-x64-gnu). */
function platformSuffix() {
  return process.platform === 'linux' ? `linux-${process.arch}-gnu` : `${process.platform}-${process.arch}`;
}

/** The native executable, or null when this install has none. */
export function nativeExecutable() {
  const local = path.join(PKG, 'farm-native');
  if (existsSync(local)) return local;
  try {
    const pkg = createRequire(import.meta.url).resolve(`@farm/build-native-${platformSuffix()}/package.json`);
    const exe = path.join(path.dirname(pkg), 'farm');
    if (existsSync(exe)) return exe;
  } catch {
    // No platform package: the addon is beside index.js (a local build).
  }
  return null;
}

/**
 * Offers `farm ARGV` to the native executable (only `build`, unless FARM_NATIVE=0). Returns its
 * exit code, or null when the JavaScript CLI must run the command.
 */
export function handOff(argv) {
  if (argv[0] !== 'build' || process.env.FARM_NATIVE === '0') return null;
  const exe = nativeExecutable();
  if (!exe) return null;
  // Ctrl-C reaches the executable too (same process group); it cancels the build, so this process
  // waits for it instead of dying first.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);
  const r = spawnSync(exe, argv, {
    stdio: 'inherit',
    env: { ...process.env, FARM_NODE: process.execPath, FARM_NATIVE_HANDBACK: '1', FARM_NATIVE_PARENT: String(process.pid) },
  });
  process.off('SIGINT', ignore);
  process.off('SIGTERM', ignore);
  if (r.error || r.status === HANDBACK_EXIT) return null;
  if (r.signal) return 128 + (constants.signals[r.signal] ?? 0);
  return r.status;
}
