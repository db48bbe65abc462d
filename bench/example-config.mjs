// The example app's no-op `farm build` with its TypeScript config against the same build with a
// JSON config (the issue's goal: TS ≤ 1.5× JSON), plus the TS config with its cached value deleted
// before each run (what every no-op cost before the config-value cache).
//
// A copy of examples/farm-app (its node_modules linked; run `npm ci` in examples/farm-app first) is
// built once for real (FastAPI venv, Vite...), then each variant gets 1 warm-up + N timed runs of
// `node bin/farm.mjs build --json`; a run with a task that is not a hit (or `off`) is a failure.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(BENCH, "..");
const EXAMPLE = path.join(REPO, "examples", "farm-app");
const FARM_CLI = path.join(REPO, "bin", "farm.mjs");

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function farmBuild(dir) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [FARM_CLI, "build", "--json"], { cwd: dir, encoding: "utf8", env: { ...process.env, NODE_ENV: "production" }, maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  let j = null;
  try {
    j = JSON.parse(r.stdout);
  } catch {}
  return { ms, code: r.status, json: j, stderr: r.stderr };
}

function problemOf(r) {
  if (!r.json) return `no JSON (exit ${r.code}): ${r.stderr.slice(0, 300)}`;
  if (!r.json.success) return `build failed: ${r.json.error?.message?.split("\n")[0]}`;
  const notHit = r.json.tasks.filter((t) => t.cache !== "hit" && t.cache !== "off");
  return notHit.length ? `not a no-op: ${notHit.map((t) => `${t.name}=${t.cache ?? t.status}`).join(", ")}` : null;
}

function variant(dir, label, id, runs, prepare) {
  const times = [];
  const failures = [];
  for (let i = 0; i <= runs; i++) {
    prepare?.();
    const r = farmBuild(dir);
    const p = problemOf(r);
    if (p) failures.push(`${i === 0 ? "warm-up" : `run ${i}`}: ${p}`);
    if (i > 0) times.push(r.ms);
  }
  return {
    scenario: "example-noop",
    tool: id,
    label,
    medianMs: median(times),
    minMs: Math.min(...times),
    maxMs: Math.max(...times),
    timesMs: times,
    peakRssKiB: null,
    valid: failures.length === 0,
    failures,
  };
}

/** Rows `example-ts`, `example-ts-uncached`, `example-json`, or one invalid row saying why not. */
export async function run({ runs }) {
  const fail = (why) => [{ scenario: "example-noop", tool: "example-ts", label: "example app no-op (TS config)", medianMs: null, valid: false, failures: [why] }];
  if (!fs.existsSync(path.join(EXAMPLE, "node_modules", "vite"))) return fail("examples/farm-app/node_modules is missing: run `npm ci` in examples/farm-app");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "farm-bench-example-"));
  try {
    const skip = new Set(["node_modules", "dist", ".venv", ".farm", "__pycache__", ".pytest_cache"]);
    fs.cpSync(EXAMPLE, dir, { recursive: true, filter: (src) => !skip.has(path.basename(src)) });
    fs.symlinkSync(path.join(EXAMPLE, "node_modules"), path.join(dir, "node_modules"));
    const first = farmBuild(dir);
    if (!first.json?.success) return fail(`the example app does not build here: ${first.json?.error?.message?.split("\n")[0] ?? first.stderr.slice(0, 300)}`);
    const ts = variant(dir, "example app no-op, farm.config.ts (config value cached)", "example-ts", runs);
    const cfgCache = path.join(dir, ".farm", "cache", "config");
    const uncached = variant(dir, "example app no-op, farm.config.ts (cached value deleted: Vite's loader each run)", "example-ts-uncached", runs, () => fs.rmSync(cfgCache, { recursive: true, force: true }));
    const { loadConfig } = await import(pathToFileURL(path.join(REPO, "js", "index.mjs")).href);
    const { config } = await loadConfig(dir, undefined, { cache: false });
    fs.writeFileSync(path.join(dir, "farm.config.json"), JSON.stringify(config, null, 2));
    fs.renameSync(path.join(dir, "farm.config.ts"), path.join(dir, "farm.config.ts.off"));
    const json = variant(dir, "example app no-op, farm.config.json", "example-json", runs);
    return [ts, uncached, json];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
