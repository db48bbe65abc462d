// A no-op build (every task a hit) writes nothing but its statistics and the build manifest:
// no output, no cache entry, task pointer, stat cache or config-cache file is rewritten.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { FARM, project, walk } from './helpers.mjs';

function farm(dir) {
  const r = spawnSync(process.execPath, [FARM, 'build', '--json'], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  return JSON.parse(r.stdout);
}

/** path → inode and mtime (ns) of every file under `dir`, but the allowed writes. */
function identities(dir) {
  const allowed = new Set(['.farm/cache/stats', 'dist/build-manifest.json']);
  return Object.fromEntries(
    walk(dir)
      .filter((f) => !allowed.has(f))
      .map((f) => {
        const s = statSync(path.join(dir, f), { bigint: true });
        return [f, `${s.ino}:${s.mtimeNs}`];
      }),
  );
}

test('a no-op build rewrites no output, entry, task pointer, stat cache or config cache', async () => {
  const dir = project({
    'farm.config.mjs': `export default ${JSON.stringify({
      appName: 'noop',
      tasks: {
        gen: { cwd: 'pkg', command: 'mkdir -p out && cat src/*.txt > out/all.txt', inputs: ['src/**'], outputs: ['out/**'] },
        pack: { cwd: 'pkg', command: 'mkdir -p packed && wc -c < out/all.txt > packed/size.txt', inputs: ['out/**'], outputs: ['packed'], dependsOn: ['gen'] },
      },
    })};\n`,
    'pkg/src/a.txt': 'alpha\n',
    'pkg/src/b.txt': 'beta\n',
  });
  assert.deepEqual(farm(dir).tasks.map((t) => t.cache), ['miss', 'miss']);
  assert.deepEqual(farm(dir).tasks.map((t) => t.cache), ['hit', 'hit']);
  const before = identities(dir);
  for (const f of ['.farm/cache/stat-cache.bin', '.farm/cache/config/farm.config.mjs.json', 'pkg/out/all.txt', 'pkg/packed/size.txt']) {
    assert.ok(before[f], `${f} exists`);
  }
  assert.ok(Object.keys(before).some((f) => f.startsWith('.farm/cache/entries/')));
  assert.ok(Object.keys(before).some((f) => f.startsWith('.farm/cache/tasks/')));
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(farm(dir).tasks.map((t) => t.cache), ['hit', 'hit']);
  const after = identities(dir);
  const changed = Object.keys({ ...before, ...after }).filter((f) => before[f] !== after[f]);
  assert.deepEqual(changed, [], 'files written (or created, removed) by a no-op build');
});
