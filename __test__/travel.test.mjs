// Keys that travel: the same project at another absolute path, run by another user, gets the same
// keys (a remote cache is only as good as keys that agree across machines), and `farm cache diff`
// names what differs between two dry runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FARM, copyExample, project } from './helpers.mjs';

/** Runs the CLI with `env` added to this process's environment. */
function farm(cwd, args, { env = {} } = {}) {
  return spawnSync(process.execPath, [FARM, ...args], { cwd, encoding: 'utf8', timeout: 300_000, env: { ...process.env, ...env } });
}

function dryRun(cwd, targets, opts) {
  const r = farm(cwd, ['build', '--dry-run', '--json', '-t', targets.join(',')], opts);
  assert.equal(r.status, 0, `dry run in ${cwd} failed:\n${r.stderr}\n${r.stdout}`);
  return { text: r.stdout, json: JSON.parse(r.stdout) };
}

const byName = (d) => Object.fromEntries(d.tasks.map((t) => [t.name, t]));

/** A copy of the example app with a command task (`stamp`, keyed on `notes.txt` and `STAMP_MODE`). */
function exampleWithCommandTask() {
  const dir = copyExample();
  const cfgPath = path.join(dir, 'farm.config.ts');
  const cfg = readFileSync(cfgPath, 'utf8');
  assert.match(cfg, /\n  docker: /, 'the example config has a docker section to insert the task before');
  writeFileSync(
    cfgPath,
    cfg.replace('\n  docker: ', "\n  tasks: { stamp: { command: 'mkdir -p out && cp notes.txt out/', inputs: ['notes.txt'], outputs: ['out'], env: ['STAMP_MODE'] } },\n  docker: "),
  );
  writeFileSync(path.join(dir, 'notes.txt'), 'release notes\n');
  return dir;
}

const TARGETS = ['frontend', 'types', 'typecheck', 'stamp'];
const PORTABLE = ['frontend', 'types', 'typecheck', 'stamp'];

test('the same project at two absolute paths, run by another user, gets the same keys (backend with uv, frontend, types, typecheck, command)', (t) => {
  const uv = (process.env.PATH ?? '').split(path.delimiter).some((d) => existsSync(path.join(d, 'uv')));
  if (!uv) {
    assert.ok(process.env.CI !== 'true', 'uv must be on PATH in CI (.ci/run installs it)');
    t.skip('uv is not on PATH');
    return;
  }
  const a = exampleWithCommandTask();
  // The second copy: a longer path with a space, in another parent directory.
  const b0 = exampleWithCommandTask();
  const parent = mkdtempSync(path.join(os.tmpdir(), 'farm-travel-'));
  const b = path.join(parent, 'another user', 'checkouts', 'farm app');
  mkdirSync(path.dirname(b), { recursive: true });
  renameSync(b0, b);
  const home = path.join(parent, 'home');
  mkdirSync(home);
  writeFileSync(path.join(home, '.npmrc'), 'fund=false\n');
  const env = { STAMP_MODE: 'release' };
  // Another user: another HOME (with its own .npmrc), USER and LOGNAME. (Not another uid: the
  // example's dev venv is bound to an interpreter other users may not be able to run, e.g. one
  // under root's pyenv; their checkout would have its own venv.)
  const other = { ...env, HOME: home, USER: 'farm-ci', LOGNAME: 'farm-ci' };
  try {
    const da = dryRun(a, TARGETS, { env });
    const db = dryRun(b, TARGETS, { env: other });
    const [ta, tb] = [byName(da.json), byName(db.json)];
    for (const t of PORTABLE) {
      assert.match(ta[t]?.key ?? '', /^[0-9a-f]{32}$/, `${t} has no key: ${ta[t]?.reason}`);
      assert.equal(tb[t].key, ta[t].key, `${t}: key differs between ${a} and ${b}: ${JSON.stringify(tb[t].manifest)} vs ${JSON.stringify(ta[t].manifest)}`);
      assert.deepEqual(ta[t].manifest.machine, {}, `${t} is portable`);
      assert.ok(ta[t].manifest.inputs.length > 0, `${t} has input files`);
      for (const f of ta[t].manifest.inputs) assert.ok(!path.isAbsolute(f.path), `${t}: absolute input path ${f.path}`);
    }
    // No absolute path of either checkout, nor the other user's HOME, is in a portable manifest.
    for (const t of PORTABLE) {
      const m = JSON.stringify(tb[t].manifest);
      for (const p of [a, b, home, parent]) assert.ok(!m.includes(p), `${t}'s manifest names ${p}`);
    }
    // The backend's production venv, made by uv (on PATH here and in CI), is relocatable: its key
    // holds the interpreter (home + a digest of the executable) and uv's version, no checkout path.
    assert.deepEqual(Object.keys(ta.backend.manifest.machine), ['pythonHome'], JSON.stringify(ta.backend.manifest.machine));
    assert.match(ta.backend.manifest.tools.uv ?? '', /^uv \d/, 'uv is the installer and its version enters the key');
    assert.equal(tb.backend.key, ta.backend.key, `${JSON.stringify(tb.backend.manifest)} vs ${JSON.stringify(ta.backend.manifest)}`);
    for (const p of [a, b, home, parent]) assert.ok(!JSON.stringify(tb.backend.manifest).includes(p), `the backend's manifest names ${p}`);

    // `farm cache diff` between the two: nothing differs (exit 0).
    const fa = path.join(parent, 'a.json');
    const fb = path.join(parent, 'b.json');
    writeFileSync(fa, da.text);
    writeFileSync(fb, db.text);
    const d = farm(parent, ['cache', 'diff', fa, fb, '--json']);
    assert.equal(d.status, 0, d.stdout + d.stderr);
    const diff = JSON.parse(d.stdout);
    assert.deepEqual(diff.tasks.filter((t) => t.kind !== 'same').map((t) => t.task), []);
    assert.ok(diff.tasks.some((t) => t.task === 'backend'), 'the backend is compared');
  } finally {
    rmSync(a, { recursive: true, force: true });
    rmSync(parent, { recursive: true, force: true });
  }
});

/** A project with one command task keyed on `src/**` and `STAMP_MODE`. */
function commandProject() {
  return project({
    'farm.config.json': JSON.stringify({
      appName: 'travel',
      tasks: { gen: { command: 'mkdir -p out && cat src/*.txt > out/all.txt', inputs: ['src/**'], outputs: ['out'], env: ['STAMP_MODE', 'API_TOKEN'] } },
    }),
    'src/a.txt': 'a\n',
    'src/b.txt': 'b\n',
  });
}

test('farm cache diff names a changed env var and a changed file (never a value); exit 0 when identical, 2 for a bad file', () => {
  const dir = commandProject();
  const files = mkdtempSync(path.join(os.tmpdir(), 'farm-diff-'));
  try {
    const write = (name, env) => {
      const r = farm(dir, ['build', '--dry-run', '--json'], { env });
      assert.equal(r.status, 0, r.stderr);
      writeFileSync(path.join(files, name), r.stdout);
      return JSON.parse(r.stdout);
    };
    const laptop = write('laptop.json', { STAMP_MODE: 'fast', API_TOKEN: 'tok-secret-value-1' });
    const m = laptop.tasks[0].manifest;
    assert.deepEqual(m.inputs.map((f) => f.path), ['src/a.txt', 'src/b.txt']);
    assert.match(m.env.STAMP_MODE, /^[0-9a-f]{32}$/, 'env values enter as digests');
    assert.ok(!JSON.stringify(laptop).includes('tok-secret-value-1'), 'no env value in the dry run');
    write('same.json', { STAMP_MODE: 'fast', API_TOKEN: 'tok-secret-value-1' });

    const same = farm(files, ['cache', 'diff', 'laptop.json', 'same.json']);
    assert.equal(same.status, 0, same.stdout + same.stderr);
    assert.match(same.stdout, /^= gen: same key/m);
    assert.match(same.stdout, /identical: 1 tasks, same keys/);

    writeFileSync(path.join(dir, 'src/b.txt'), 'b, edited\n');
    write('ci.json', { STAMP_MODE: 'thorough', API_TOKEN: 'tok-secret-value-2' });
    const text = farm(files, ['cache', 'diff', 'laptop.json', 'ci.json']);
    assert.equal(text.status, 1, text.stdout + text.stderr);
    assert.match(text.stdout, /^≠ gen: key [0-9a-f]{12} -> [0-9a-f]{12}$/m);
    assert.match(text.stdout, /^ {2}M src\/b\.txt$/m);
    assert.match(text.stdout, /^ {2}env STAMP_MODE: /m);
    assert.match(text.stdout, /^ {2}env API_TOKEN: /m);
    assert.doesNotMatch(text.stdout, /src\/a\.txt/, 'an unchanged file is not named');
    assert.doesNotMatch(text.stdout, /fast|thorough|tok-secret/, 'values are never shown');
    assert.match(text.stdout, /1 of 1 tasks differ/);

    const j = farm(files, ['cache', 'diff', 'laptop.json', 'ci.json', '--json']);
    assert.equal(j.status, 1);
    const [gen] = JSON.parse(j.stdout).tasks;
    assert.equal(gen.kind, 'changed');
    assert.deepEqual(gen.filesModified, ['src/b.txt']);
    assert.deepEqual(gen.env.map((c) => c.name), ['API_TOKEN', 'STAMP_MODE']);
    assert.deepEqual([gen.filesAdded, gen.filesRemoved, gen.tools, gen.config, gen.deps], [[], [], [], [], []]);

    // A build result is not a dry run; a missing file and a non-JSON file are named with the fix.
    const build = farm(dir, ['build', '--json']);
    writeFileSync(path.join(files, 'build.json'), build.stdout);
    writeFileSync(path.join(files, 'junk.json'), 'not json');
    for (const [bad, msg] of [
      ['build.json', /build\.json: not the output of `farm build --dry-run --json`/],
      ['junk.json', /junk\.json: not JSON/],
      ['missing.json', /missing\.json: cannot be read/],
    ]) {
      const r = farm(files, ['cache', 'diff', 'laptop.json', bad]);
      assert.equal(r.status, 2, `${bad}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, msg);
      assert.match(r.stderr, /farm build --dry-run --json > /);
    }
    const usage = farm(files, ['cache', 'diff', 'laptop.json']);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /name two files/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(files, { recursive: true, force: true });
  }
});
