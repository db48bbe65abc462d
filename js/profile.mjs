// `farm build --profile FILE`: the JavaScript side's spans (Node start, config load, planning) and
// the orchestrator's (`result.profile`), written as one Chrome trace event file (opens in Perfetto
// or chrome://tracing), and the one-line "where the time went" summary.
//
// Both sides stamp spans in microseconds since the Unix epoch (here performance.timeOrigin +
// performance.now()), so they merge without coordination; the file's `ts` start at 0.
import { writeFileSync } from 'node:fs';

/** Microseconds since the Unix epoch, sub-millisecond. */
export function nowUs() {
  return (performance.timeOrigin + performance.now()) * 1000;
}

/** Records JavaScript-side spans on lane 0 when on; does nothing when off. */
export class JsProfiler {
  constructor(on) {
    this.on = Boolean(on);
    this.spans = [];
  }

  /** Records a finished span. */
  record(name, cat, startUs, endUs = nowUs(), args = {}) {
    if (this.on) this.spans.push({ name, cat, ts: startUs, dur: Math.max(0, endUs - startUs), lane: 0, args });
  }

  /** Runs `fn` (sync or async) inside a span. */
  async span(name, cat, fn) {
    if (!this.on) return fn();
    const t = nowUs();
    try {
      return await fn();
    } finally {
      this.record(name, cat, t);
    }
  }
}

/** The summary's buckets, by span category, in display order. */
const BUCKETS = [
  ['startup', ['startup']],
  ['config', ['config']],
  ['plan', ['plan']],
  ['hashing', ['walk', 'hash']],
  ['restore', ['restore']],
  ['vite', ['vite']],
  ['python', ['python']],
  ['processes', ['process']],
  ['manifest', ['manifest']],
];

/** Total length of the union of [start, end) intervals, µs. */
function unionUs(intervals) {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let cur = null;
  for (const [s, e] of sorted) {
    if (!cur || s > cur[1]) {
      if (cur) total += cur[1] - cur[0];
      cur = [s, e];
    } else cur[1] = Math.max(cur[1], e);
  }
  if (cur) total += cur[1] - cur[0];
  return total;
}

/** [s, e) minus each of `holes` (sorted or not), as a list of intervals. */
function subtract([s, e], holes) {
  let parts = [[s, e]];
  for (const [hs, he] of holes) {
    parts = parts.flatMap(([a, b]) => (he <= a || hs >= b ? [[a, b]] : [...(hs > a ? [[a, hs]] : []), ...(he < b ? [[he, b]] : [])]));
  }
  return parts;
}

/**
 * Where the time went: per bucket, the time covered by its spans (overlapping spans, e.g. two
 * tasks hashing at once, count once). A span's time goes to its own bucket except where a span of
 * another bucket nested in it on the same lane runs (a Python probe inside a task's key goes to
 * `python`, not `hashing`). `other` = the wall time covered by none of them.
 * Returns `{ wallMs, buckets: [[name, ms]...], otherMs }`.
 */
export function whereTimeWent(spans, wall) {
  const bucketOf = new Map(BUCKETS.flatMap(([name, cats]) => cats.map((c) => [c, name])));
  const inBucket = spans.filter((s) => bucketOf.has(s.cat));
  const byBucket = new Map();
  for (const s of inBucket) {
    const b = bucketOf.get(s.cat);
    const holes = inBucket
      .filter((c) => c !== s && c.lane === s.lane && bucketOf.get(c.cat) !== b && c.ts >= s.ts && c.ts + c.dur <= s.ts + s.dur)
      .map((c) => [c.ts, c.ts + c.dur]);
    byBucket.set(b, [...(byBucket.get(b) ?? []), ...subtract([s.ts, s.ts + s.dur], holes)]);
  }
  const buckets = [];
  const all = [];
  for (const [name] of BUCKETS) {
    const iv = byBucket.get(name);
    if (!iv) continue;
    all.push(...iv);
    buckets.push([name, unionUs(iv) / 1000]);
  }
  const wallMs = wall.dur / 1000;
  const clipped = all.map(([s, e]) => [Math.max(s, wall.ts), Math.min(e, wall.ts + wall.dur)]).filter(([s, e]) => e > s);
  return { wallMs, buckets, otherMs: Math.max(0, wallMs - unionUs(clipped) / 1000) };
}

/** `time: startup 40 ms · config 3 ms · hashing 120 ms · … · other 20 ms (wall 1.7 s)`. */
export function summaryLine({ wallMs, buckets, otherMs }, fmtMs) {
  const parts = [...buckets, ['other', otherMs]].map(([n, ms]) => `${n} ${fmtMs(ms)}`);
  return `time: ${parts.join(' · ')} (wall ${fmtMs(wallMs)})`;
}

/** The Chrome trace event file of JS spans plus the orchestrator's profile (`{ spans, lanes }`). */
export function traceFile(jsSpans, profile, meta = {}) {
  const spans = [...jsSpans, ...(profile?.spans ?? [])].sort((a, b) => a.ts - b.ts || b.dur - a.dur);
  const origin = spans.length ? spans[0].ts : 0;
  const pid = process.pid;
  const lanes = new Map([[0, 'farm'], ...(profile?.lanes ?? []).map((l) => [l.id, l.name])]);
  const events = [
    { name: 'process_name', ph: 'M', pid, tid: 0, args: { name: 'farm build' } },
    ...[...lanes].map(([tid, name]) => ({ name: 'thread_name', ph: 'M', pid, tid, args: { name } })),
    ...[...lanes.keys()].map((tid) => ({ name: 'thread_sort_index', ph: 'M', pid, tid, args: { sort_index: tid } })),
    ...spans.map((s) => ({
      name: s.name,
      cat: s.cat,
      ph: 'X',
      ts: Math.round((s.ts - origin) * 1000) / 1000,
      dur: Math.round(s.dur * 1000) / 1000,
      pid,
      tid: s.lane,
      args: s.args ?? {},
    })),
  ];
  return { traceEvents: events, displayTimeUnit: 'ms', otherData: { ...meta, epochStartUs: origin } };
}

/** Writes the trace file. */
export function writeTrace(file, jsSpans, profile, meta) {
  writeFileSync(file, `${JSON.stringify(traceFile(jsSpans, profile, meta))}\n`);
}
