// Remote cache benchmark (run by bench/run.mjs after the main tables; `--no-remote` skips it).
//
// On the 10,000-file fixture: a **fresh clone with a warm remote cache** vs a **full build** of a
// fresh clone, for farm and for turbo 2.11, both against one local turborepo-remote-cache server
// (npm, from __test__/tools, local storage, on 127.0.0.1). Before the timed runs a seed clone fills
// the server (farm: FARM_REMOTE_CACHE_URL; turbo: --api/--token/--team with remote:rw). Then each
// round makes a new `git clone` per row (untimed, node_modules linked) and times one build in it:
//   full    farm build --json (no remote cache)   | turbo run build --cache=local:rw (no remote)
//   remote  farm build --json (remote cache)      | turbo run build --cache=local:rw,remote:r
// Each run is checked: full = both tasks ran; remote = both restored from the server (farm:
// tasks[].cacheSource "remote"; turbo: "Cached: 2 cached, 2 total" in a clone without .turbo/).
// Rows: { tool, scenario, median_ms, min_ms, max_ms, valid, note } and one ratio row per tool
// (full / remote: how much a warm remote cache saves a fresh clone) and per scenario
// (turbo / farm). A benchmark, not a test: it prints, it never fails on a slow number.
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(BENCH, "..");
const FARM_CLI = path.join(REPO, "bin", "farm.mjs");
const TOOLS = path.join(REPO, "__test__", "tools");
const SERVER = path.join(TOOLS, "node_modules", "turborepo-remote-cache", "dist", "index.js");
const SIZE = 10_000;
const TOKEN = "bench-remote-token";
const TEAM = "team_bench";

const log = (m) => process.stderr.write(`bench remote: ${m}\n`);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** One process, timed from spawn to exit. */
function timed(cmd, args, { cwd, env }) {
  return new Promise((resolve) => {
    const out = [];
    const err = [];
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (d) => out.push(d));
    child.stderr.on("data", (d) => err.push(d));
    child.on("error", (e) => resolve({ ms: NaN, code: -1, stdout: "", stderr: String(e) }));
    child.on("close", (code) => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
}

function git(cwd, ...args) {
  const r = spawnSync("git", ["-c", "commit.gpgsign=false", ...args], { cwd, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
}

/** The server, with local storage in a temp dir; resolves to { url, stop }. */
async function startServer(storage) {
  if (!fs.existsSync(SERVER)) {
    log("installing turborepo-remote-cache (npm ci --prefix __test__/tools) ...");
    const r = spawnSync("npm", ["ci", "--prefix", TOOLS, "--ignore-scripts", "--no-audit", "--no-fund"], { stdio: "inherit" });
    if (r.status !== 0 || !fs.existsSync(SERVER)) throw new Error("could not install __test__/tools (turborepo-remote-cache)");
  }
  const port = await freePort();
  const proc = spawn(process.execPath, [SERVER], {
    env: { ...process.env, NODE_ENV: "production", HOST: "127.0.0.1", PORT: String(port), TURBO_TOKEN: TOKEN, STORAGE_PROVIDER: "local", STORAGE_PATH: storage, STORAGE_PATH_USE_TMP_FOLDER: "false", LOG_LEVEL: "warn", BODY_LIMIT: String(1 << 30) },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(`${url}/v8/artifacts/status?teamId=${TEAM}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      if (r.ok) break;
    } catch {}
    if (i > 300 || proc.exitCode !== null) throw new Error("turborepo-remote-cache did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, stop: () => new Promise((r) => (proc.exitCode !== null ? r() : (proc.once("exit", r), proc.kill("SIGKILL")))) };
}

/**
 * `ctx`: { runs, gen (gen-fixture.mjs), turboBin, writePeerConfigs(dir) } from run.mjs.
 * Returns the rows (also printed by run.mjs).
 */
export async function run(ctx) {
  const { runs = 5, gen, turboBin, writePeerConfigs } = ctx;
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "farm-bench-remote-"));
  const origin = path.join(base, "origin");
  let server = null;
  try {
    log(`generating a ${SIZE}-file fixture ...`);
    const g = spawnSync(process.execPath, [gen, origin, "--files", String(SIZE), "--git"], { stdio: ["ignore", "ignore", "inherit"] });
    if (g.status !== 0) throw new Error("gen-fixture failed");
    writePeerConfigs(origin);
    // The configs are part of the project: commit them, so a clone has them.
    git(origin, "add", "-A");
    git(origin, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q", "--no-verify", "-m", "bench configs");
    server = await startServer(path.join(base, "storage"));
    const baseEnv = { ...process.env, NODE_ENV: "production", FORCE_COLOR: "0", NO_COLOR: "1", FARM_NO_DAEMON: "1" };
    delete baseEnv.CI;
    for (const k of Object.keys(baseEnv)) if (k.startsWith("FARM_REMOTE_CACHE_")) delete baseEnv[k];
    const farmRemoteEnv = { ...baseEnv, FARM_REMOTE_CACHE_URL: server.url, FARM_REMOTE_CACHE_TOKEN: TOKEN, FARM_REMOTE_CACHE_TEAM: TEAM };
    const turboEnv = { ...baseEnv, TURBO_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1", TURBO_NO_UPDATE_NOTIFIER: "1", TURBO_PRINT_VERSION_DISABLED: "1" };
    const turboApi = [`--api=${server.url}`, `--token=${TOKEN}`, `--team=${TEAM}`];
    const turboArgs = ["run", "build", "--cache-dir=.turbo/cache", "--output-logs=none"];
    let clones = 0;
    const clone = () => {
      const dir = path.join(base, `clone-${++clones}`);
      git(base, "clone", "-q", origin, dir);
      fs.symlinkSync(path.join(BENCH, "node_modules"), path.join(dir, "node_modules"), "dir");
      return dir;
    };
    const farmTasks = (r) => {
      try {
        return JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))).tasks ?? [];
      } catch {
        return null;
      }
    };
    const turboCached = (r) => /Cached:\s+(\d+) cached, (\d+) total/.exec(r.stdout + r.stderr);
    const rows = {
      "farm full": { cmd: [process.execPath, [FARM_CLI, "build", "--json"]], env: baseEnv, check: (r) => { const t = farmTasks(r); return t && t.length === 2 && t.every((x) => x.cache === "miss") ? null : `expected 2 misses: ${JSON.stringify(t?.map((x) => [x.name, x.cache]) ?? r.stderr.slice(0, 300))}`; } },
      "farm remote": { cmd: [process.execPath, [FARM_CLI, "build", "--json"]], env: farmRemoteEnv, check: (r) => { const t = farmTasks(r); return t && t.length === 2 && t.every((x) => x.cache === "hit" && x.cacheSource === "remote") ? null : `expected 2 remote hits: ${JSON.stringify(t?.map((x) => [x.name, x.cache, x.cacheSource]) ?? r.stderr.slice(0, 300))}`; } },
      "turbo full": { cmd: [turboBin, [...turboArgs, "--cache=local:rw"]], env: turboEnv, check: (r) => { const m = turboCached(r); return r.code === 0 && m && m[1] === "0" && m[2] === "2" ? null : `expected 0/2 cached (exit ${r.code}): ${(m?.[0] ?? (r.stdout + r.stderr).slice(-300))}`; } },
      "turbo remote": { cmd: [turboBin, [...turboArgs, "--cache=local:rw,remote:r", ...turboApi]], env: turboEnv, check: (r) => { const m = turboCached(r); return r.code === 0 && m && m[1] === "2" && m[2] === "2" ? null : `expected 2/2 cached from the server (exit ${r.code}): ${(m?.[0] ?? (r.stdout + r.stderr).slice(-300))}`; } },
    };
    // Fill the server from a seed clone: both tools upload their two tasks.
    log(`filling ${server.url} from a seed clone (farm and turbo) ...`);
    const seed = clone();
    const f = await timed(process.execPath, [FARM_CLI, "build", "--json"], { cwd: seed, env: farmRemoteEnv });
    const fj = (() => { try { return JSON.parse(f.stdout.slice(f.stdout.indexOf("{"))); } catch { return null; } })();
    if (!fj?.success || fj.remote?.uploads !== 2) throw new Error(`the seed farm build did not upload 2 artifacts: ${JSON.stringify(fj?.remote ?? fj?.error ?? f.stderr.slice(0, 300))} ${fj?.warnings?.join("; ") ?? ""}`);
    const t = await timed(turboBin, [...turboArgs, "--cache=local:rw,remote:rw", ...turboApi], { cwd: seed, env: turboEnv });
    if (t.code !== 0) throw new Error(`the seed turbo build failed: ${(t.stdout + t.stderr).slice(-300)}`);
    fs.rmSync(seed, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });

    const results = Object.fromEntries(Object.keys(rows).map((k) => [k, { times: [], failures: [] }]));
    // Round 0 is an untimed warm-up; rounds interleave the rows.
    for (let round = 0; round <= runs; round++) {
      for (const [name, row] of Object.entries(rows)) {
        const dir = clone();
        const r = await timed(row.cmd[0], row.cmd[1], { cwd: dir, env: row.env });
        const problem = row.check(r);
        if (round > 0) results[name].times.push(r.ms);
        if (problem) results[name].failures.push(`${round === 0 ? "warm-up" : `run ${round}`}: ${problem}`);
        fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
      }
    }
    const out = Object.entries(results).map(([name, r]) => {
      const [tool, scenario] = name.split(" ");
      return {
        tool,
        scenario: scenario === "full" ? "fresh clone, full build" : "fresh clone, warm remote cache",
        median_ms: r.times.length ? median(r.times) : null,
        min_ms: r.times.length ? Math.min(...r.times) : null,
        max_ms: r.times.length ? Math.max(...r.times) : null,
        valid: r.failures.length === 0,
        note: r.failures[0] ?? `${SIZE} files; ${runs} runs + 1 warm-up`,
      };
    });
    const get = (tool, full) => out.find((r) => r.tool === tool && r.scenario.endsWith(full ? "full build" : "remote cache"));
    const ratio = (a, b) => (a?.valid && b?.valid ? a.median_ms / b.median_ms : null);
    for (const tool of ["farm", "turbo"]) {
      const x = ratio(get(tool, true), get(tool, false));
      out.push({ tool, scenario: "ratio full / warm remote (> 1: the remote cache saves time)", median_ms: null, min_ms: null, max_ms: null, valid: x != null, note: x == null ? "a row is invalid" : `${x.toFixed(2)}×` });
    }
    for (const full of [true, false]) {
      const x = ratio(get("turbo", full), get("farm", full));
      out.push({ tool: "turbo/farm", scenario: `ratio, ${full ? "full build" : "warm remote cache"} (> 1: farm faster)`, median_ms: null, min_ms: null, max_ms: null, valid: x != null, note: x == null ? "a row is invalid" : `${x.toFixed(2)}×` });
    }
    return out;
  } finally {
    if (server) await server.stop();
    fs.rmSync(base, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }
}
