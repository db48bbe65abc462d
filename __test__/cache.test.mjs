// The build cache through the CLI: each `farm build` is a new process, so hits prove persistence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync, utimesSync, writeFileSync, appendFileSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FARM, copyExample, project, walk } from './helpers.mjs';

const farm = (cwd, ...args) => spawnSync(process.execPath, [FARM, ...args], { cwd, encoding: 'utf8', timeout: 180_000 });
const json = (cwd, ...args) => {
  const r = farm(cwd, ...args, '--json');
  assert.ok(r.stdout, r.stderr);
  return JSON.parse(r.stdout);
};
const byName = (res) => Object.fromEntries(res.tasks.map((t) => [t.name, t]));

/** A project with two command tasks: `gen` writes files (one executable), `pack` depends on it. */
function commandProject() {
  return project({
    'farm.config.json': JSON.stringify({
      appName: 'cmd',
      tasks: {
        gen: {
          cwd: 'pkg',
          command: 'mkdir -p out && cat src/*.txt > out/all.txt && printf "#!/bin/sh\\necho hi\\n" > out/run.sh && chmod 755 out/run.sh && echo generated',
          inputs: ['src/**'],
          outputs: ['out/**'],
          env: ['GEN_MODE'],
        },
        pack: { cwd: 'pkg', command: 'mkdir -p packed && wc -c < out/all.txt > packed/size.txt', inputs: ['out/**'], outputs: ['packed'], dependsOn: ['gen'] },
      },
    }),
    'pkg/src/a.txt': 'alpha\n',
    'pkg/src/b.txt': 'beta\n',
  });
}

test('a second process hits; restored outputs are byte-identical with the same modes; logs replay', async () => {
  const dir = commandProject();
  const first = json(dir, 'build');
  assert.equal(first.success, true, JSON.stringify(first.error));
  assert.deepEqual(first.tasks.map((t) => [t.name, t.cache]), [['gen', 'miss'], ['pack', 'miss']]);
  const files = (d) => walk(d).map((f) => [f, readFileSync(path.join(d, f), 'latin1'), statSync(path.join(d, f)).mode & 0o777]);
  const before = files(path.join(dir, 'pkg'));
  rmSync(path.join(dir, 'pkg/out'), { recursive: true });
  rmSync(path.join(dir, 'pkg/packed'), { recursive: true });
  const r = farm(dir, 'build');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /gen\s+succeeded\s+\S+\s+hit\s+[0-9a-f]{10}/);
  assert.deepEqual(files(path.join(dir, 'pkg')), before);
  assert.equal(statSync(path.join(dir, 'pkg/out/run.sh')).mode & 0o777, 0o755);
  const third = json(dir, 'build');
  assert.deepEqual(third.tasks.map((t) => t.cache), ['hit', 'hit']);
  assert.equal(third.tasks[0].key, first.tasks[0].key);
  assert.ok(third.tasks[0].restoreMs > 0 && third.tasks[0].restoreMs < third.duration, `restoreMs ${third.tasks[0].restoreMs}`);
  // A hit replays the task's log lines as events.
  const { BuildOrchestrator } = await import('../js/index.mjs');
  const events = [];
  const orch = await BuildOrchestrator.fromProject(dir);
  const r4 = await orch.build(undefined, { onEvent: (evs) => events.push(...evs) });
  assert.equal(r4.tasks[0].cache, 'hit');
  assert.ok(events.some((e) => e.kind === 'log' && e.task === 'gen' && e.message === 'generated'), JSON.stringify(events));
});

test('the key ignores an mtime-only touch and undeclared env; changes with content, a declared env var, --no-cache', () => {
  const dir = commandProject();
  assert.equal(json(dir, 'build').success, true);
  const future = new Date(Date.now() + 60_000);
  utimesSync(path.join(dir, 'pkg/src/a.txt'), future, future);
  const env = { ...process.env, SOME_UNDECLARED: String(Math.random()) };
  const touched = JSON.parse(spawnSync(process.execPath, [FARM, 'build', '--json'], { cwd: dir, env, encoding: 'utf8' }).stdout);
  assert.deepEqual(touched.tasks.map((t) => t.cache), ['hit', 'hit'], 'mtime-only touch and an undeclared env var are hits');

  const declared = JSON.parse(spawnSync(process.execPath, [FARM, 'build', '--json'], { cwd: dir, env: { ...process.env, GEN_MODE: 'x' }, encoding: 'utf8' }).stdout);
  assert.equal(byName(declared).gen.cache, 'miss', 'declared env var changes the key');

  appendFileSync(path.join(dir, 'pkg/src/b.txt'), 'more\n');
  const edited = json(dir, 'build');
  assert.equal(byName(edited).gen.cache, 'miss');
  assert.equal(byName(edited).pack.cache, 'miss', 'a dependency key change is a miss');

  const off = json(dir, 'build', '--no-cache');
  assert.deepEqual(off.tasks.map((t) => t.cache), ['off', 'off']);
});

test('farm cache why names exactly the edited file; --dry-run shows keys without building; status and clean', () => {
  const dir = commandProject();
  assert.equal(json(dir, 'build').success, true);
  appendFileSync(path.join(dir, 'pkg/src/a.txt'), 'edit\n');
  const why = json(dir, 'cache', 'why', 'gen');
  assert.deepEqual(why.filesModified, ['src/a.txt']);
  assert.deepEqual(why.filesAdded, []);
  assert.deepEqual(why.filesRemoved, []);
  const text = farm(dir, 'cache', 'why', 'gen');
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /src\/a\.txt/);

  rmSync(path.join(dir, 'pkg/out'), { recursive: true });
  const dry = json(dir, 'build', '--dry-run');
  assert.equal(dry.dryRun, true);
  assert.equal(dry.tasks.find((t) => t.name === 'gen').cache, 'miss');
  assert.match(dry.tasks[0].key, /^[0-9a-f]{32}$/);
  assert.ok(!existsSync(path.join(dir, 'pkg/out')), 'dry run builds nothing');

  const statusBefore = json(dir, 'cache', 'status');
  json(dir, 'build', '--dry-run');
  const statusAfter = json(dir, 'cache', 'status');
  assert.deepEqual([statusAfter.hits, statusAfter.misses], [statusBefore.hits, statusBefore.misses], 'a dry run is not counted as hits or misses');
  const status = statusAfter;
  assert.ok(status.entries >= 2 && status.totalBytes > 0 && status.oldestEntry > 0);
  assert.equal(json(dir, 'cache', 'clean', '--older-than', '3d').removed, 0, 'fresh entries are kept');
  assert.ok(json(dir, 'cache', 'clean', '--max-size', '1').removed >= 1);
  assert.equal(farm(dir, 'cache', 'clean', '--older-than', 'soon').status, 2);
  assert.equal(json(dir, 'cache', 'status').entries, 0);
  const cleared = json(dir, 'build', '--clear-cache');
  assert.deepEqual(cleared.tasks.map((t) => t.cache), ['miss', 'miss']);
});

test('a corrupted or deleted blob: warning, rebuild, build still green', () => {
  const dir = commandProject();
  assert.equal(json(dir, 'build').success, true);
  const blobs = walk(path.join(dir, '.farm/cache')).filter((f) => f.startsWith('blobs/'));
  assert.ok(blobs.length >= 3, blobs.join());
  // corrupt every blob: whichever holds out/all.txt is caught on restore
  for (const b of blobs) {
    const p = path.join(dir, '.farm/cache', b);
    chmodSync(p, 0o644);
    writeFileSync(p, 'garbage');
  }
  rmSync(path.join(dir, 'pkg/out'), { recursive: true });
  const r = farm(dir, 'build');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /! gen: cache: .*(corrupt|blob)/i);
  assert.equal(readFileSync(path.join(dir, 'pkg/out/all.txt'), 'utf8'), 'alpha\nbeta\n');
  const again = json(dir, 'build');
  assert.deepEqual(again.tasks.map((t) => t.cache), ['hit', 'hit'], 'the rebuilt entry is good');
  for (const b of walk(path.join(dir, '.farm/cache')).filter((f) => f.startsWith('blobs/'))) rmSync(path.join(dir, '.farm/cache', b));
  const deleted = json(dir, 'build');
  assert.equal(deleted.success, true);
  assert.deepEqual(deleted.tasks.map((t) => t.cache), ['miss', 'miss'], 'outputs still on disk, blobs gone: both tasks re-run');
});

test('8 concurrent builds on one cache all succeed and leave valid entries', async () => {
  const shared = mkdtempSync(path.join(os.tmpdir(), 'farm-shared-cache-'));
  const dirs = Array.from({ length: 8 }, () => {
    const d = commandProject();
    symlinkSync(shared, path.join(d, '.farm-cache'));
    const cfg = JSON.parse(readFileSync(path.join(d, 'farm.config.json'), 'utf8'));
    cfg.cacheDir = '.farm-cache';
    writeFileSync(path.join(d, 'farm.config.json'), JSON.stringify(cfg));
    return d;
  });
  const runs = dirs.map(
    (d) =>
      new Promise((resolve) => {
        const c = spawn(process.execPath, [FARM, 'build', '--json'], { cwd: d });
        let o = '';
        c.stdout.on('data', (x) => (o += x));
        c.on('exit', (code) => resolve({ code, o }));
      }),
  );
  const results = await Promise.all(runs);
  for (const { code, o } of results) {
    assert.equal(code, 0, o);
    assert.equal(JSON.parse(o).success, true);
  }
  // every entry restores correct bytes in a fresh project
  const fresh = dirs[0];
  rmSync(path.join(fresh, 'pkg/out'), { recursive: true });
  const r = json(fresh, 'build');
  assert.deepEqual(r.tasks.map((t) => t.cache), ['hit', 'hit']);
  assert.equal(readFileSync(path.join(fresh, 'pkg/out/all.txt'), 'utf8'), 'alpha\nbeta\n');
  assert.ok(readdirSync(path.join(shared, 'entries')).length >= 2);
});

test('example app: a backend edit that keeps the API leaves the frontend cached', () => {
  const dir = copyExample();
  const first = json(dir, 'build', '--target', 'frontend');
  assert.equal(first.success, true, JSON.stringify(first.error));
  const f = path.join(dir, 'apps/api/routers/users.py');
  writeFileSync(f, `${readFileSync(f, 'utf8')}\n# a comment: no API change\n`);
  const second = byName(json(dir, 'build', '--target', 'frontend'));
  assert.equal(second.types.cache, 'miss', 'backend sources changed: types re-run');
  assert.equal(second.frontend.cache, 'hit', 'the generated types did not change: frontend is a hit');
  const m = path.join(dir, 'apps/api/models/user.py');
  writeFileSync(m, readFileSync(m, 'utf8').replace(/class User\(/, 'class User(') + '\n');
  const models = readFileSync(m, 'utf8');
  assert.ok(models.includes('class User'));
});

test('example app: a no-op build keeps identical outputs untouched, drops stale files, cleans the rest of dist', () => {
  const dir = copyExample();
  assert.equal(json(dir, 'build').success, true);
  const index = path.join(dir, 'dist/web/index.html');
  const mtime = statSync(index).mtimeMs;
  writeFileSync(path.join(dir, 'dist/web/stale.js'), 'old');
  writeFileSync(path.join(dir, 'dist/junk.txt'), 'leftover');
  const again = byName(json(dir, 'build'));
  assert.equal(again.frontend.cache, 'hit');
  assert.equal(again.backend.cache, 'hit');
  assert.equal(statSync(index).mtimeMs, mtime, 'an identical output is not rewritten');
  assert.ok(!existsSync(path.join(dir, 'dist/web/stale.js')), 'a file the cache entry does not list is removed');
  assert.ok(!existsSync(path.join(dir, 'dist/junk.txt')), 'clean still removes what no cached task owns');
  assert.ok(existsSync(path.join(dir, 'dist/api/main.pyc')));
  const nocache = json(dir, 'build', '--no-cache');
  assert.equal(nocache.success, true);
  assert.ok(statSync(index).mtimeMs > mtime, 'without the cache the output is rebuilt');
});

/** The blob file holding `label/rel` in the cache entry of `task` (entries are JSON, blobs content-addressed). */
function blobOf(dir, task, label, rel) {
  const cache = path.join(dir, '.farm/cache');
  for (const name of readdirSync(path.join(cache, 'entries'))) {
    const e = JSON.parse(readFileSync(path.join(cache, 'entries', name), 'utf8'));
    if (e.task !== task) continue;
    const rec = e.outputs.find((o) => o.label === label && o.path === rel);
    if (rec) return path.join(cache, 'blobs', rec.blob.hash.slice(0, 2), rec.blob.hash);
  }
  throw new Error(`no entry of ${task} lists ${label}/${rel}`);
}

test('a deleted blob whose output is still present and identical: a miss that re-runs the task, not a hit', () => {
  const dir = commandProject();
  assert.equal(json(dir, 'build').success, true);
  const all = path.join(dir, 'pkg/out/all.txt');
  const before = statSync(all);
  rmSync(blobOf(dir, 'gen', 'out', 'all.txt'));
  const r = farm(dir, 'build');
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /gen\s+succeeded\s+\S+\s+hit/);
  assert.match(r.stdout, /gen\s+succeeded\s+\S+\s+miss/);
  assert.match(r.stdout, /! gen: cache: .*blob .* is missing/);
  assert.ok(statSync(all).mtimeMs > before.mtimeMs || statSync(all).ino !== before.ino, 'the task ran and wrote its output again');
  assert.equal(readFileSync(all, 'utf8'), 'alpha\nbeta\n');
  // The re-run saved a complete entry: the next build is a hit again.
  assert.deepEqual(json(dir, 'build').tasks.map((t) => t.cache), ['hit', 'hit']);
});

/** Fake content in the venv and image stores of `dir`'s cache. */
function fillStores(dir) {
  const cache = path.join(dir, '.farm/cache');
  const venv = path.join(cache, 'venvs', 'ab'.repeat(16));
  mkdirSync(path.join(venv, 'lib'), { recursive: true });
  writeFileSync(path.join(venv, 'lib/x.py'), 'x = 1\n');
  writeFileSync(path.join(cache, 'venvs', `${'ab'.repeat(16)}.lock`), '');
  mkdirSync(path.join(cache, 'images'), { recursive: true });
  writeFileSync(path.join(cache, 'images', `${'cd'.repeat(16)}.img`), 'FARMIMG1');
  writeFileSync(path.join(cache, 'images', `${'ef'.repeat(16)}.png`), 'old format');
}

test('farm cache clean and build --clear-cache empty the venv and image stores too; status reports them', () => {
  const dir = commandProject();
  assert.equal(json(dir, 'build').success, true);
  fillStores(dir);
  const s = json(dir, 'cache', 'status');
  assert.equal(s.venvs.count, 1);
  assert.equal(s.images.count, 2);
  assert.ok(s.venvs.bytes >= 6 && s.images.bytes >= 18, JSON.stringify(s));
  assert.ok(s.totalBytes >= s.venvs.bytes + s.images.bytes + 1);
  const text = farm(dir, 'cache', 'status');
  assert.match(text.stdout, /venvs/);
  const cleaned = json(dir, 'cache', 'clean');
  assert.equal(cleaned.venvs, 1);
  assert.equal(cleaned.images, 2);
  assert.deepEqual(readdirSync(path.join(dir, '.farm/cache/venvs')), []);
  assert.deepEqual(readdirSync(path.join(dir, '.farm/cache/images')), []);
  const after = json(dir, 'cache', 'status');
  assert.deepEqual([after.entries, after.venvs.count, after.images.count, after.totalBytes], [0, 0, 0, 0]);
  assert.ok(existsSync(path.join(dir, '.farm/cache/LOCK')));

  fillStores(dir);
  const r = farm(dir, 'build', '--clear-cache');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /cache cleared: \d+ entries, 1 venvs, 2 images/);
  assert.deepEqual(readdirSync(path.join(dir, '.farm/cache/venvs')), []);
  assert.deepEqual(readdirSync(path.join(dir, '.farm/cache/images')), []);
});

test('example app: a corrupted file in the cached venv is detected, the venv rebuilt, the build green; clear-cache empties venvs and images', () => {
  const dir = copyExample();
  // A private venv store: this test damages it, so it must not share the one other tests use.
  const venvs = path.join(dir, '.farm/cache/venvs');
  rmSync(venvs);
  mkdirSync(venvs);
  const first = json(dir, 'build');
  assert.equal(first.success, true, JSON.stringify(first.error));
  const art = first.artifacts.find((a) => a.type === 'backend-source');
  const key = art.metadata.venvKey;
  assert.match(key, /^[0-9a-f]{32}$/);
  const status = json(dir, 'cache', 'status');
  assert.ok(status.venvs.count === 1 && status.venvs.bytes > 1_000_000, JSON.stringify(status));
  assert.ok(status.images.count >= 1, 'the frontend cached its PNG optimization');

  const lib = path.join(venvs, key, 'lib');
  const rel = path.join(readdirSync(lib)[0], 'site-packages/annotated_types/__init__.py');
  const init = path.join(lib, rel);
  const original = readFileSync(init, 'utf8');
  writeFileSync(init, `${original.slice(0, 200)}\n)))) garbled\n`);
  const r = farm(dir, 'build', '--target', 'backend', '--no-cache');
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /! backend: the cached venv .* is damaged \(.*annotated_types\/__init__\.py: .*\): deleted and rebuilt/);
  assert.equal(readFileSync(path.join(dir, 'dist/api/.venv/lib', rel), 'utf8'), original, 'the output has the intact file');
  assert.equal(readFileSync(init, 'utf8'), original, 'the cache has a rebuilt venv');
  const again = farm(dir, 'build', '--target', 'backend', '--no-cache');
  assert.equal(again.status, 0, again.stderr);
  assert.doesNotMatch(again.stdout, /damaged/);

  const cleared = farm(dir, 'build', '--clear-cache', '--dry-run');
  assert.equal(cleared.status, 0, cleared.stderr);
  assert.deepEqual(readdirSync(venvs), []);
  assert.deepEqual(readdirSync(path.join(dir, '.farm/cache/images')), []);
  assert.deepEqual(readdirSync(path.join(dir, '.farm/cache/entries')), []);
});
