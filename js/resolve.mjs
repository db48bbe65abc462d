// Finds packages the way Node does from a project directory (walking up node_modules), so that
// tools like Vite are the app's own dependency, not the addon's.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** The directory of package `name` as seen from `from`, or null. */
export function findPackageDir(from, name) {
  let dir = path.resolve(from);
  for (;;) {
    const cand = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(cand, 'package.json'))) return cand;
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** Imports ESM package `name` resolved from `from` (its "import" or main entry). */
export async function importFrom(from, name) {
  const dir = findPackageDir(from, name);
  if (!dir) return null;
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  let entry = pkg.exports?.['.'] ?? pkg.exports ?? pkg.module ?? pkg.main ?? 'index.js';
  while (entry && typeof entry === 'object') entry = entry.import ?? entry.default ?? entry.node;
  const mod = await import(pathToFileURL(path.join(dir, entry)).href);
  return { mod, version: pkg.version, dir };
}
