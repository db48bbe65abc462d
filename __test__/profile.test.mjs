// `farm build --profile FILE`: the Chrome trace file and the "where the time went" line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { FARM, project } from './helpers.mjs';

function commandProject() {
  return project({
    'farm.config.json': JSON.stringify({
      appName: 'prof',
      tasks: {
        gen: { cwd: 'pkg', command: 'mkdir -p out && cat src/*.txt > out/all.txt', inputs: ['src/**'], outputs: ['out/**'] },
        pack: { cwd: 'pkg', command: 'mkdir -p packed && wc -c < out/all.txt > packed/size.txt', inputs: ['out/**'], outputs: ['packed'], dependsOn: ['gen'] },
      },
    }),
    'pkg/src/a.txt': 'alpha\n',
    'pkg/src/b.txt': 'beta\n',
  });
}

/** Runs `farm build ARGS` in `dir`; returns the output and the process's wall time (µs). */
function farm(dir, ...args) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [FARM, 'build', ...args], { cwd: dir, encoding: 'utf8' });
  const wallUs = (performance.now() - t0) * 1000;
  assert.equal(r.status, 0, r.stdout + r.stderr);
  return { ...r, wallUs };
}

/** Parses and checks a trace file; returns its complete ("X") events. */
function checkTrace(file, wallUs) {
  const trace = JSON.parse(readFileSync(file, 'utf8'));
  assert.ok(Array.isArray(trace.traceEvents), 'traceEvents is an array');
  const xs = trace.traceEvents.filter((e) => e.ph === 'X');
  for (const e of xs) {
    for (const k of ['name', 'cat']) assert.equal(typeof e[k], 'string', `${k} of ${JSON.stringify(e)}`);
    for (const k of ['ts', 'dur', 'pid', 'tid']) assert.ok(Number.isFinite(e[k]), `${k} of ${JSON.stringify(e)}`);
    assert.equal(typeof e.args, 'object');
    // The trace starts at 0 (the build's start): every span starts within the process's wall time.
    assert.ok(e.ts >= 0 && e.ts <= wallUs, `ts within 0..${wallUs} µs: ${JSON.stringify(e)}`);
    assert.ok(e.dur > 0, `dur > 0: ${JSON.stringify(e)}`);
  }
  const threads = trace.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name');
  for (const tid of new Set(xs.map((e) => e.tid))) assert.ok(threads.some((t) => t.tid === tid), `lane ${tid} is named`);
  // One outer span holds everything, and is within the process's wall time as the test saw it.
  const outer = xs.find((e) => e.name === 'farm build');
  assert.ok(outer, 'the whole-build span');
  assert.ok(outer.dur <= wallUs, `farm build span ${outer.dur} µs within the process's ${wallUs} µs`);
  const eps = 1; // µs, rounding
  for (const e of xs) {
    assert.ok(e.ts >= outer.ts - eps && e.ts + e.dur <= outer.ts + outer.dur + eps, `${e.name} inside the build span`);
  }
  // On each lane, spans nest: any two are disjoint or one holds the other.
  const byLane = new Map();
  for (const e of xs) byLane.set(e.tid, [...(byLane.get(e.tid) ?? []), e]);
  for (const [tid, spans] of byLane) {
    for (const a of spans) {
      for (const b of spans) {
        if (a === b) continue;
        const disjoint = a.ts + a.dur <= b.ts + eps || b.ts + b.dur <= a.ts + eps;
        const aHoldsB = a.ts <= b.ts + eps && b.ts + b.dur <= a.ts + a.dur + eps;
        const bHoldsA = b.ts <= a.ts + eps && a.ts + a.dur <= b.ts + b.dur + eps;
        assert.ok(disjoint || aHoldsB || bHoldsA, `lane ${tid}: ${a.name} and ${b.name} overlap without nesting`);
      }
    }
  }
  return { trace, xs };
}

const T = String.raw`(?:\d+ms|\d+\.\d\ds)`; // fmtMs
const SUMMARY = new RegExp(String.raw`^time: startup ${T} · config ${T} · plan ${T} · hashing ${T} · .*other ${T} \(wall ${T}\)$`, 'm');

test('farm build --profile writes a nested Chrome trace with every stage, and prints where the time went', () => {
  const dir = commandProject();
  const names = (xs) => xs.map((e) => e.name);

  const miss = farm(dir, '--profile', 'miss.json');
  const { xs: first } = checkTrace(path.join(dir, 'miss.json'), miss.wallUs);
  for (const n of ['config load', 'validate config, plan', 'plan', 'open cache', 'walk gen', 'key gen', 'task gen', 'task pack', 'run gen', 'cache save', 'manifest', 'save stat cache, evict']) {
    assert.ok(names(first).includes(n), `span ${n} in ${names(first).join(', ')}`);
  }
  const proc = first.find((e) => e.cat === 'process');
  assert.match(proc?.name ?? '', /^sh -c mkdir -p out/, 'the command task\'s process');
  const taskGen = first.find((e) => e.name === 'task gen');
  assert.equal(taskGen.args.cache, 'miss');
  assert.ok(proc.tid === taskGen.tid && proc.ts >= taskGen.ts && proc.ts + proc.dur <= taskGen.ts + taskGen.dur, 'the process is inside its task');
  const walk = first.find((e) => e.name === 'walk gen');
  assert.deepEqual([walk.args.files, walk.args.filesRead], [2, 2]);
  assert.notEqual(first.find((e) => e.name === 'task pack').tid, taskGen.tid, 'one lane per task');
  const line = miss.stdout.match(SUMMARY);
  assert.ok(line, `summary line in:\n${miss.stdout}`);
  assert.match(line[0], new RegExp(`processes ${T}`));
  assert.match(miss.stdout, /^profile: miss\.json \(open in/m);

  // A no-op: restores instead of runs, and the walk takes the digests from the stat cache.
  const hit = farm(dir, '--profile', 'hit.json');
  const { trace, xs: second } = checkTrace(path.join(dir, 'hit.json'), hit.wallUs);
  for (const n of ['restore gen', 'restore pack', 'cache lookup']) assert.ok(names(second).includes(n), n);
  // Outputs already in place are known identical from the stat cache: nothing is read or written.
  const restore = second.find((e) => e.name === 'restore gen').args;
  assert.deepEqual([restore.written, restore.identical, restore.identicalByStat], [0, 1, 1], JSON.stringify(restore));
  assert.ok(!second.some((e) => e.cat === 'process'), 'no process runs on a no-op');
  assert.equal(second.find((e) => e.name === 'task gen').args.cache, 'hit');
  assert.deepEqual([second.find((e) => e.name === 'walk gen').args.filesRead], [0]);
  const summary = hit.stdout.match(SUMMARY)?.[0];
  assert.match(summary ?? '', new RegExp(`restore ${T}`));
  assert.equal(trace.otherData.summary, summary);
  // The orchestrator's own span agrees with the duration it reports.
  const orch = second.find((e) => e.name === 'orchestrator build');
  const [, n, unit] = hit.stdout.match(/succeeded in (\d+(?:\.\d+)?)(ms|s)/);
  const reported = Number(n) * (unit === 's' ? 1e6 : 1000);
  assert.ok(Math.abs(orch.dur - reported) <= 2000, `orchestrator span ${orch.dur} µs vs reported ${reported} µs`);
});

test('farm build --profile with --json: the JSON is the plain result, the trace is still written', () => {
  const dir = commandProject();
  const r = farm(dir, '--json', '--profile', 'p.json');
  const result = JSON.parse(r.stdout);
  assert.equal(result.success, true);
  assert.equal('profile' in result, false);
  checkTrace(path.join(dir, 'p.json'), r.wallUs);
});

test('without --profile no trace is recorded and no summary line is printed', () => {
  const dir = commandProject();
  const r = farm(dir);
  assert.doesNotMatch(r.stdout, /^time: /m);
  assert.doesNotMatch(r.stdout, /^profile: /m);
});

test('where the time went: nested spans of another bucket are carved out, parallel spans count once', async () => {
  const { whereTimeWent } = await import('../js/profile.mjs');
  const spans = [
    { cat: 'hash', lane: 1, ts: 0, dur: 100 }, // a key, with a Python probe inside
    { cat: 'python', lane: 1, ts: 10, dur: 50 },
    { cat: 'hash', lane: 2, ts: 20, dur: 100 }, // another task hashing at the same time
    { cat: 'task', lane: 2, ts: 0, dur: 150 }, // not a bucket
  ];
  const r = whereTimeWent(spans, { ts: 0, dur: 200 });
  assert.deepEqual(r.buckets, [['hashing', 0.11], ['python', 0.05]]);
  assert.ok(Math.abs(r.otherMs - 0.08) < 1e-9, String(r.otherMs));
  assert.equal(r.wallMs, 0.2);
});
