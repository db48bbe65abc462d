#!/usr/bin/env node
// `npm run bench`: farm build against its peers on generated FARM-shaped monorepos. A benchmark,
// not a test: it prints medians, ratios to farm and peak RSS, checks the issue's targets (PASS/MISS)
// and writes bench/results/<date>-<size>.json. See bench/README.md.
//
//   npm run bench -- [--sizes 10000,100000] [--runs 5] [--quick] [--keep] [--rebuild-floor]
//                    [--scenarios cold,noop,touch,edit] [--tools farm,turbo,...]
//                    [--no-example] [--no-results-md] [--no-floor] [--no-remote]
// Prints each goal of the speed issue with its ratio and PASS/MISS/N/A, and writes bench/RESULTS.md
// (machine, versions, date, tables, goals) and the example app's TS-vs-JSON config rows.
// env: BENCH_SIZES, BENCH_RUNS (flags win).

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { fileURLToPath, pathToFileURL } from "node:url";

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(BENCH, "..");
// The shared directory beside the repo (a git worktree may sit one level deeper): the first that has
// the fixture generator, or $FARM_BENCH_SHARED.
const SHARED =
  process.env.FARM_BENCH_SHARED ??
  [path.resolve(REPO, "..", "shared"), path.resolve(REPO, "..", "..", "shared")].find((d) => fs.existsSync(path.join(d, "bench", "gen-fixture.mjs"))) ??
  path.resolve(REPO, "..", "shared");
const GEN = path.join(SHARED, "bench", "gen-fixture.mjs");
const FARM_CLI = path.join(REPO, "bin", "farm.mjs");
// The native executable (npm run build): answers an all-cached build without starting Node.
const FARM_NATIVE = path.join(REPO, "farm-native");
const FLOOR_SRC = path.join(REPO, "examples", "bench_floor.rs");
// Built like `npm run build` (release, for the host triple, in the same target directory), so it
// reuses that build's compiled dependencies and library.
const HOST_TRIPLE = /^host: (\S+)$/m.exec(spawnSync("rustc", ["-vV"], { encoding: "utf8" }).stdout ?? "")?.[1] ?? null;
const FLOOR_TARGET = path.resolve(REPO, process.env.CARGO_TARGET_DIR ?? "target");
const FLOOR_BIN = path.join(FLOOR_TARGET, HOST_TRIPLE ?? "unknown-host", "release", "examples", "bench_floor");
const TIME_BIN = "/usr/bin/time";
const SCENARIOS = ["cold", "noop", "touch", "edit"];

/** The farm config the bench writes into every fixture (the issue's interface). */
const FARM_CONFIG = {
  appName: "fixture",
  tasks: {
    "web-build": {
      cwd: "apps/web",
      command: "npm run build",
      inputs: ["src/**", "index.html", "vite.config.ts", "tsconfig.json", "package.json"],
      outputs: ["dist"],
      env: ["NODE_ENV"],
    },
    "api-build": {
      cwd: "apps/api",
      command: "npm run build",
      inputs: ["src/**", "pyproject.toml", "requirements.txt"],
      outputs: ["dist"],
    },
  },
};
/** npm workspace package name of each farm task (turbo and nx address tasks by package). */
const PKG_OF_TASK = { "web-build": "web", "api-build": "api" };

// ------------------------------------------------------------------------------------------ args
function parseArgs(argv) {
  const o = {
    sizes: process.env.BENCH_SIZES ? process.env.BENCH_SIZES.split(",").map(Number) : [10000, 100000],
    runs: process.env.BENCH_RUNS ? Number(process.env.BENCH_RUNS) : 5,
    keep: false,
    rebuildFloor: false,
    scenarios: SCENARIOS,
    tools: null,
    example: true,
    floor: true,
    resultsMd: true,
    remote: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const [k, v] = a.includes("=") ? a.split(/=(.*)/s) : [a, argv[++i]];
      if (v === undefined) die(`${k} needs a value`);
      return v;
    };
    if (a.startsWith("--sizes")) o.sizes = val().split(",").map((s) => Number(s.replace(/_/g, "")));
    else if (a.startsWith("--runs")) o.runs = Number(val());
    else if (a.startsWith("--scenarios")) o.scenarios = val().split(",");
    else if (a.startsWith("--tools")) o.tools = val().split(",");
    else if (a === "--quick") o.sizes = [10000];
    else if (a === "--no-example") o.example = false;
    else if (a === "--no-floor") o.floor = false;
    else if (a === "--no-results-md") o.resultsMd = false;
    else if (a === "--no-remote") o.remote = false;
    else if (a === "--keep") o.keep = true;
    else if (a === "--rebuild-floor") o.rebuildFloor = true;
    else if (a === "-h" || a === "--help") {
      process.stdout.write(fs.readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").slice(1, 9).join("\n") + "\n");
      process.exit(0);
    } else die(`unknown argument ${a} (see --help)`);
  }
  if (!o.sizes.length || o.sizes.some((n) => !Number.isInteger(n) || n < 10)) die("--sizes: integers >= 10, comma-separated");
  if (!Number.isInteger(o.runs) || o.runs < 1) die("--runs: an integer >= 1");
  for (const s of o.scenarios) if (!SCENARIOS.includes(s)) die(`--scenarios: unknown ${s} (${SCENARIOS.join(", ")})`);
  return o;
}

function die(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}
const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

// ----------------------------------------------------------------------------------- set-up
function ensureShared() {
  if (!fs.existsSync(GEN)) {
    die(`fixture generator not found: ${GEN}\n  The benchmark needs the shared directory next to the repo (../shared/bench/gen-fixture.mjs).`);
  }
}

function ensureBenchDeps() {
  const nm = path.join(BENCH, "node_modules");
  if (!fs.existsSync(nm)) {
    log("installing the benchmark's pinned peers (npm ci --prefix bench) ...");
    const r = spawnSync("npm", ["ci", "--prefix", BENCH, "--no-audit", "--no-fund"], { stdio: "inherit" });
    if (r.status !== 0) die("npm ci --prefix bench failed");
  }
  const pkg = JSON.parse(fs.readFileSync(path.join(BENCH, "package.json"), "utf8"));
  const want = pkg.devDependencies;
  const got = {};
  for (const name of Object.keys(want)) {
    try {
      got[name] = JSON.parse(fs.readFileSync(path.join(nm, name, "package.json"), "utf8")).version;
    } catch {
      got[name] = null;
    }
    if (got[name] !== want[name]) die(`bench/node_modules has ${name}@${got[name]}, package.json pins ${want[name]}: rm -rf bench/node_modules and rerun`);
  }
  // turbo's npm package is a JS shim that execs a platform package (optional dependency); run the
  // native binary directly so turbo is not charged a Node start-up it does not need.
  const plat = { "linux-x64": "linux-64", "linux-arm64": "linux-arm64", "darwin-x64": "darwin-64", "darwin-arm64": "darwin-arm64" }[`${process.platform}-${process.arch}`];
  const turboBin = plat ? path.join(nm, "@turbo", plat, "bin", "turbo") : null;
  if (!turboBin || !fs.existsSync(turboBin)) die(`turbo's platform binary (@turbo/${plat}) is missing from bench/node_modules: rm -rf bench/node_modules and rerun`);
  const nxPkg = JSON.parse(fs.readFileSync(path.join(nm, "nx", "package.json"), "utf8"));
  const nxBin = path.join(nm, "nx", typeof nxPkg.bin === "string" ? nxPkg.bin : nxPkg.bin.nx);
  return { turboBin, nxBin, versions: got };
}

/**
 * Builds the floor binary when it is missing or its source changed (by content: a `cargo fmt` that
 * only touches the file does not trigger the minutes-long release build of the whole crate).
 */
function ensureFloor(rebuild) {
  if (!fs.existsSync(FLOOR_SRC)) {
    log(`${path.relative(REPO, FLOOR_SRC)} is missing: floor rows and floor targets are skipped`);
    return null;
  }
  const srcHash = createHash("sha256").update(fs.readFileSync(FLOOR_SRC)).digest("hex");
  const stampFile = `${FLOOR_BIN}.src-sha256`;
  const built = fs.existsSync(FLOOR_BIN) && fs.existsSync(stampFile) ? fs.readFileSync(stampFile, "utf8").trim() : null;
  if (built === srcHash && !rebuild) return FLOOR_BIN;
  if (!HOST_TRIPLE) {
    log("`rustc -vV` named no host triple: floor rows and floor targets are skipped");
    return null;
  }
  log(`building the floor: cargo build --release --example bench_floor --target ${HOST_TRIPLE} (after npm run build, seconds) ...`);
  const r = spawnSync("cargo", ["build", "--release", "--example", "bench_floor", "--target", HOST_TRIPLE], {
    cwd: REPO,
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (r.status !== 0 || !fs.existsSync(FLOOR_BIN)) {
    log("the floor did not build: floor rows and floor targets are skipped");
    return null;
  }
  fs.writeFileSync(stampFile, srcHash + "\n");
  return FLOOR_BIN;
}

/** `release` or `debug` build of the addon (a debug one carries debug sections). */
function addonProfile(file) {
  const r = spawnSync("readelf", ["-S", file], { encoding: "utf8" });
  if (r.status !== 0) return "profile unknown";
  return /\.debug_info/.test(r.stdout) ? "debug build" : "release build";
}

/** `release` or `debug` build of the native executable, or null without one. */
function nativeProfile() {
  return fs.existsSync(FARM_NATIVE) ? addonProfile(FARM_NATIVE) : null;
}

/** Does the farm CLI have the task-cache interface yet (`build --dry-run`)? */
function farmStatus() {
  const r = spawnSync(process.execPath, [FARM_CLI, "build", "--help"], { encoding: "utf8" });
  const ready = r.status === 0 && /--dry-run/.test(r.stdout + r.stderr);
  let addonNote = null;
  const node = fs.readdirSync(REPO).find((f) => f.endsWith(".node"));
  if (node) {
    const nodeM = fs.statSync(path.join(REPO, node)).mtimeMs;
    const newest = newestMtime(path.join(REPO, "src"));
    if (newest > nodeM) addonNote = `${node} is older than src/ (run npm run build for current numbers)`;
  } else addonNote = "no .node addon at the repo root (npm run build)";
  return { ready, addonNote };
}

function newestMtime(dir) {
  let m = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    m = Math.max(m, e.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs);
  }
  return m;
}

// ---------------------------------------------------------------------------------- fixture
function makeFixture(n) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `farm-bench-${n}-`));
  log(`generating a ${n}-file fixture in ${dir} ...`);
  const r = spawnSync(process.execPath, [GEN, dir, "--files", String(n), "--git"], { stdio: ["ignore", "ignore", "inherit"] });
  if (r.status !== 0) die(`gen-fixture failed for N=${n}`);
  writePeerConfigs(dir);
  return dir;
}

function writeJson(file, obj) {
  fs.writeFileSync(file, JSON.stringify(obj, null, 2) + "\n");
}

/** farm.config.json, turbo.json, nx.json, apps/{web,api}/project.json: same inputs/outputs/env. */
function writePeerConfigs(dir) {
  writeJson(path.join(dir, "farm.config.json"), FARM_CONFIG);
  const turboTasks = {};
  for (const [name, t] of Object.entries(FARM_CONFIG.tasks)) {
    turboTasks[`${PKG_OF_TASK[name]}#build`] = {
      inputs: t.inputs,
      outputs: t.outputs.map((o) => `${o}/**`),
      env: t.env ?? [],
      cache: true,
    };
  }
  writeJson(path.join(dir, "turbo.json"), { $schema: "https://turborepo.com/schema.json", ui: "stream", tasks: turboTasks });
  writeJson(path.join(dir, "nx.json"), {
    neverConnectToCloud: true,
    cacheDirectory: ".nx/cache",
    targetDefaults: { build: { cache: true } },
  });
  for (const [name, t] of Object.entries(FARM_CONFIG.tasks)) {
    const pkg = PKG_OF_TASK[name];
    const inputs = t.inputs.map((i) => `{projectRoot}/${i.endsWith("/**") ? `${i}/*` : i}`);
    for (const e of t.env ?? []) inputs.push({ env: e });
    writeJson(path.join(dir, t.cwd, "project.json"), {
      name: pkg,
      root: t.cwd,
      targets: {
        build: {
          executor: "nx:run-script",
          options: { script: "build" },
          cache: true,
          inputs,
          outputs: t.outputs.map((o) => `{projectRoot}/${o}`),
        },
      },
    });
  }
  // turbo and nx look for a local installation in the workspace: point it at the pinned peers.
  fs.symlinkSync(path.join(BENCH, "node_modules"), path.join(dir, "node_modules"), "dir");
}

/** The file the touch/edit scenarios change: the first component of the first web feature. */
function pickTarget(dir) {
  const feats = path.join(dir, "apps/web/src/features");
  for (const f of fs.readdirSync(feats).sort()) {
    const comp = path.join(feats, f, "components");
    if (!fs.existsSync(comp)) continue;
    const files = fs.readdirSync(comp).sort();
    if (files.length) return path.relative(dir, path.join(comp, files[0]));
  }
  die("no component file found in the fixture");
}

function countFiles(dir) {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) {
      if (!["dist", "node_modules", ".git"].includes(e.name)) n += countFiles(path.join(dir, e.name));
    } else n++;
  }
  return n;
}

// ---------------------------------------------------------------------------------- running
/**
 * Runs one command, timed with process.hrtime from spawn to exit. Peak RSS is GNU time's %M:
 * ru_maxrss from wait4, i.e. the largest resident set of any single process in the tree that was
 * waited for (not a sum over processes; detached daemons are not included).
 */
function measure(cmd, args, { cwd, env, timeoutMs = 15 * 60 * 1000 }) {
  const hasTime = fs.existsSync(TIME_BIN);
  const rssFile = path.join(os.tmpdir(), `farm-bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const [bin, argv] = hasTime ? [TIME_BIN, ["-f", "%M", "-o", rssFile, cmd, ...args]] : [cmd, args];
  return new Promise((resolve) => {
    const out = [];
    const err = [];
    const t0 = process.hrtime.bigint();
    const child = spawn(bin, argv, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (d) => out.push(d));
    child.stderr.on("data", (d) => err.push(d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    let closed = false;
    child.on("close", () => (closed = true));
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ ms: NaN, code: -1, stdout: "", stderr: String(e), rssKiB: null });
    });
    child.on("exit", (code, signal) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      clearTimeout(timer);
      // A daemon the tool started may hold the pipes: do not wait for them forever.
      const finish = () => {
        let rssKiB = null;
        if (hasTime) {
          try {
            const lines = fs.readFileSync(rssFile, "utf8").trim().split("\n");
            rssKiB = Number(lines[lines.length - 1]) || null;
            fs.rmSync(rssFile, { force: true });
          } catch {}
        }
        resolve({ ms, code: code ?? (signal ? 128 : -1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), rssKiB });
      };
      if (closed) finish();
      else {
        const t = setTimeout(finish, 2000);
        child.on("close", () => {
          clearTimeout(t);
          finish();
        });
      }
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// ------------------------------------------------------------------------------------ tools
/** Expected cache outcome per task: all hits, or the web task missing (the edited file is web's). */
const EXPECT = {
  noop: { "web-build": "hit", "api-build": "hit" },
  touch: { "web-build": "hit", "api-build": "hit" },
  edit: { "web-build": "miss", "api-build": "hit" },
};

function checkPerTask(scenario, tasks) {
  const want = EXPECT[scenario];
  const got = Object.fromEntries(tasks.map((t) => [t.name, t.cache]));
  const bad = Object.entries(want).filter(([k, v]) => got[k] !== v);
  if (!bad.length) return null;
  // Show why, when the tool says (farm: `reason`/`cacheReason`/`message` of an "off" task).
  const why = tasks
    .filter((t) => want[t.name] !== t.cache && (t.reason || t.cacheReason || t.message))
    .map((t) => `${t.name}: ${t.reason ?? t.cacheReason ?? t.message}`);
  return `expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}${why.length ? ` (${why.join("; ")})` : ""}`;
}

function checkCounts(scenario, hits, total) {
  const want = Object.values(EXPECT[scenario]).filter((v) => v === "hit").length;
  if (total !== 2) return `expected 2 tasks, saw ${total}`;
  return hits === want ? null : `expected ${want}/2 cache hits, saw ${hits}/2`;
}

function parseJsonOut(stdout) {
  const s = stdout.trim();
  try {
    return JSON.parse(s);
  } catch {
    const i = s.indexOf("{");
    return i >= 0 ? JSON.parse(s.slice(i)) : null;
  }
}

function defineTools({ dir, turboBin, nxBin, floorBin, farmReady }) {
  // CI is dropped: nx and turbo change behaviour under CI (nx turns its daemon off).
  const baseEnv = { ...process.env, NODE_ENV: "production", FORCE_COLOR: "0", NO_COLOR: "1" };
  delete baseEnv.CI;
  // The JavaScript path: bin/farm.mjs does not offer the build to the native executable. The rows
  // without a daemon say so (FARM_NO_DAEMON), so the warm-mode rows' daemon never answers them.
  const farmEnv = { ...baseEnv, FARM_NATIVE: "0", FARM_NO_DAEMON: "1" };
  const nativeEnv = { ...baseEnv, FARM_NO_DAEMON: "1" };
  delete nativeEnv.FARM_NATIVE;
  const warmEnv = { ...baseEnv };
  delete warmEnv.FARM_NATIVE;
  delete warmEnv.FARM_NO_DAEMON;
  const turboEnv = { ...baseEnv, TURBO_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1", TURBO_NO_UPDATE_NOTIFIER: "1", TURBO_PRINT_VERSION_DISABLED: "1" };
  const nxEnv = (daemon) => ({ ...baseEnv, NX_DAEMON: daemon ? "true" : "false", NX_NO_CLOUD: "true", NX_TUI: "false", NX_SKIP_NX_CACHE: "", NX_VERBOSE_LOGGING: "false" });
  const rmFarmCache = () => {
    // Cache dir and stat cache live under .farm/ (cacheDir default .farm/cache): delete them all.
    fs.rmSync(path.join(dir, ".farm"), { recursive: true, force: true });
  };
  const farmVerify = (scenario, r) => {
    const j = parseJsonOut(r.stdout);
    if (!j) return `no JSON on stdout (exit ${r.code}): ${r.stderr.slice(0, 300)}`;
    if (scenario === "cold") {
      // `--dry-run --json` prints { dryRun: true, tasks: [{ name, cache, key, inputs }] }.
      if (!j.dryRun) return "not a dry-run result";
      const tasks = j.tasks ?? [];
      const names = tasks.map((t) => t.name).sort();
      if (names.join() !== "api-build,web-build") return `dry run reported tasks ${JSON.stringify(names)}`;
      if (!tasks.every((t) => t.key && t.cache === "miss")) return `cold dry run: expected keys and "miss" (cache deleted), got ${JSON.stringify(tasks.map((t) => [t.name, t.cache, t.key]))}`;
      return null;
    }
    if (!j.success) return `build failed: ${JSON.stringify(j.error)}`;
    return checkPerTask(scenario, j.tasks ?? []);
  };
  const turboRun = ["run", "build", "--cache-dir=.turbo/cache", "--output-logs=none", "--cache=local:rw"];
  const turboVerify = (scenario, r) => {
    if (r.code !== 0) return `exit ${r.code}: ${(r.stderr || r.stdout).slice(-300)}`;
    if (scenario === "cold") {
      const j = parseJsonOut(r.stdout);
      const tasks = j?.tasks ?? [];
      if (tasks.length !== 2) return `dry run listed ${tasks.length} tasks`;
      return tasks.every((t) => t.hash && t.cache?.status === "MISS") ? null : "dry run: expected 2 hashed tasks, both MISS";
    }
    const m = /Cached:\s+(\d+) cached, (\d+) total/.exec(r.stdout + r.stderr);
    if (!m) return "no 'Cached: x cached, y total' line in turbo's output";
    return checkCounts(scenario, Number(m[1]), Number(m[2]));
  };
  const nxVerify = (scenario, r) => {
    if (r.code !== 0) return `exit ${r.code}: ${(r.stderr || r.stdout).slice(-300)}`;
    const text = r.stdout + r.stderr;
    const m = /Cache:\s+(\d+)\/(\d+) hit/.exec(text);
    if (m) return checkCounts(scenario, Number(m[1]), Number(m[2]));
    const m2 = /for (\d+) out of (\d+) tasks/.exec(text);
    if (m2) return checkCounts(scenario, Number(m2[1]), Number(m2[2]));
    if (/Successfully ran target build for 2 projects/.test(text)) return checkCounts(scenario, 0, 2);
    return "could not find nx's cache summary";
  };
  const naiveVerify = (scenario, r) => {
    const j = parseJsonOut(r.stdout);
    if (!j) return `no JSON (exit ${r.code}): ${r.stderr.slice(0, 300)}`;
    if (scenario === "cold") return j.tasks?.length === 2 && j.tasks.every((t) => t.key) ? null : "expected 2 keys";
    return checkPerTask(scenario, j.tasks);
  };
  const floorVerify = (_s, r) => {
    const j = parseJsonOut(r.stdout);
    if (!j || r.code !== 0) return `floor failed (exit ${r.code}): ${r.stderr.slice(0, 300)}`;
    return j.files > 0 ? null : "floor saw no files";
  };
  const floorArgs = ["apps/web", "apps/api"];

  const tools = [];
  if (farmReady && fs.existsSync(FARM_NATIVE)) {
    // The native executable run directly (as turbo's platform binary is): it answers the all-cached
    // builds itself and hands misses to Node (js/cli/main.mjs). Cold is a dry run (keys only).
    const native = [FARM_NATIVE, ["build", "--json"]];
    tools.push({
      id: "farm",
      label: `farm build (native executable${nativeProfile() === "debug build" ? ", DEBUG build" : ""}, no daemon)`,
      scenarios: {
        cold: { prepare: rmFarmCache, cmd: [FARM_NATIVE, ["build", "--dry-run", "--json"]], env: nativeEnv, label: "farm build --dry-run, native executable (cold: .farm/ deleted)" },
        noop: { cmd: native, env: nativeEnv },
        touch: { cmd: native, env: nativeEnv },
        edit: { cmd: native, env: nativeEnv },
      },
      verify: farmVerify,
    });
  }
  if (farmReady && fs.existsSync(FARM_NATIVE)) {
    // Warm mode: the same executable, asking the project's daemon (`farm daemon start`, started
    // before the first run of this row, untimed, and stopped after each scenario).
    const native = [FARM_NATIVE, ["build", "--json"]];
    const ensure = { prepare: () => ensureFarmDaemon(dir), env: warmEnv };
    tools.push({
      id: "farm-daemon",
      label: `farm build (native executable${nativeProfile() === "debug build" ? ", DEBUG build" : ""}, daemon on)`,
      scenarios: { noop: { cmd: native, ...ensure }, touch: { cmd: native, ...ensure }, edit: { cmd: native, ...ensure } },
      verify: farmVerify,
      farmDaemon: true,
    });
  }
  if (farmReady) {
    tools.push({
      id: fs.existsSync(FARM_NATIVE) ? "farm-node" : "farm",
      label: "farm build (Node CLI, FARM_NATIVE=0, no daemon)",
      scenarios: {
        cold: { prepare: rmFarmCache, cmd: [process.execPath, [FARM_CLI, "build", "--dry-run", "--json"]], env: farmEnv, label: "farm build --dry-run, Node CLI (cold: .farm/ deleted)" },
        noop: { cmd: [process.execPath, [FARM_CLI, "build", "--json"]], env: farmEnv },
        touch: { cmd: [process.execPath, [FARM_CLI, "build", "--json"]], env: farmEnv },
        edit: { cmd: [process.execPath, [FARM_CLI, "build", "--json"]], env: farmEnv },
      },
      verify: farmVerify,
    });
  }
  tools.push({
    id: "turbo",
    label: "turbo 2.11 run build",
    scenarios: {
      cold: { prepare: () => fs.rmSync(path.join(dir, ".turbo"), { recursive: true, force: true }), cmd: [turboBin, ["run", "build", "--cache-dir=.turbo/cache", "--dry=json"]], env: turboEnv, label: "turbo run build --dry=json (.turbo/ deleted; git index warm)" },
      noop: { cmd: [turboBin, turboRun], env: turboEnv },
      touch: { cmd: [turboBin, turboRun], env: turboEnv },
      edit: { cmd: [turboBin, turboRun], env: turboEnv },
    },
    verify: turboVerify,
  });
  for (const daemon of [false, true]) {
    const run = { cmd: [process.execPath, [nxBin, "run-many", "-t", "build", "--outputStyle=static"]], env: nxEnv(daemon) };
    tools.push({
      id: daemon ? "nx-daemon" : "nx",
      label: daemon ? "nx 24 run-many (daemon on)" : "nx 24 run-many (NX_DAEMON=false)",
      scenarios: { noop: run, touch: run, edit: run },
      verify: nxVerify,
      daemon,
    });
  }
  tools.push({
    id: "naive",
    label: "naive Node sha256 BuildCache (seed port)",
    scenarios: {
      cold: { cmd: [process.execPath, [path.join(BENCH, "naive-cache.mjs"), "keys", "--json"]], env: baseEnv, label: "naive keys only (it has no cold/warm difference)" },
      noop: { cmd: [process.execPath, [path.join(BENCH, "naive-cache.mjs"), "build", "--json"]], env: baseEnv },
      touch: { cmd: [process.execPath, [path.join(BENCH, "naive-cache.mjs"), "build", "--json"]], env: baseEnv },
      edit: { cmd: [process.execPath, [path.join(BENCH, "naive-cache.mjs"), "build", "--json"]], env: baseEnv },
    },
    verify: naiveVerify,
  });
  if (floorBin) {
    tools.push({
      id: "floor-walk-stat",
      label: "floor: parallel walk + lstat (Rust)",
      scenarios: { noop: { cmd: [floorBin, ["walk-stat", ...floorArgs]], env: baseEnv }, touch: { cmd: [floorBin, ["walk-stat", ...floorArgs]], env: baseEnv } },
      verify: floorVerify,
    });
    tools.push({
      id: "floor-walk-read-xxh3",
      label: "floor: parallel walk + read + xxh3 (Rust)",
      scenarios: { cold: { cmd: [floorBin, ["walk-read-xxh3", ...floorArgs]], env: baseEnv } },
      verify: floorVerify,
    });
  }
  return tools;
}

// -------------------------------------------------------------------------------- scenarios
/** Applies the scenario's change to the fixture before one run (untimed). */
function makeMutator(dir, targetRel) {
  const file = path.join(dir, targetRel);
  const original = fs.readFileSync(file);
  let n = 0;
  return {
    apply(scenario, toolId) {
      n++;
      if (scenario === "touch") {
        const t = new Date(); // now: a new mtime every run (runs are far more than 1 ms apart), same content
        fs.utimesSync(file, t, t);
      } else if (scenario === "edit") {
        fs.writeFileSync(file, Buffer.concat([original, Buffer.from(`\n// bench edit ${n} (${toolId})\n`)]));
      }
    },
    restore() {
      // Only when changed: rewriting identical bytes would still be a touch.
      if (!fs.readFileSync(file).equals(original)) fs.writeFileSync(file, original);
    },
  };
}

async function runScenario(scenario, tools, { dir, runs, mutator }) {
  const active = tools.filter((t) => t.scenarios[scenario]);
  const results = Object.fromEntries(active.map((t) => [t.id, { times: [], rss: [], failures: [] }]));
  // Rounds interleave the tools (A B C, A B C, ...) so slow drift hits every tool alike; round 0
  // is the untimed warm-up (it also fills the caches after the previous scenario).
  for (let round = 0; round <= runs; round++) {
    for (const t of active) {
      const sc = t.scenarios[scenario];
      mutator.apply(scenario, t.id);
      sc.prepare?.();
      const r = await measure(sc.cmd[0], sc.cmd[1], { cwd: dir, env: sc.env });
      const problem = t.verify(scenario, r);
      if (round === 0) {
        if (r.code !== 0) results[t.id].failures.push(`warm-up: exit ${r.code}: ${(r.stderr || r.stdout).slice(-400)}`);
        continue;
      }
      results[t.id].times.push(r.ms);
      if (r.rssKiB) results[t.id].rss.push(r.rssKiB);
      if (problem) results[t.id].failures.push(`run ${round}: ${problem}`);
    }
  }
  return active.map((t) => {
    const r = results[t.id];
    return {
      scenario,
      tool: t.id,
      label: t.scenarios[scenario].label ?? t.label,
      medianMs: r.times.length ? median(r.times) : null,
      minMs: r.times.length ? Math.min(...r.times) : null,
      maxMs: r.times.length ? Math.max(...r.times) : null,
      timesMs: r.times,
      peakRssKiB: r.rss.length ? Math.max(...r.rss) : null,
      valid: r.failures.length === 0,
      failures: r.failures,
    };
  });
}

async function runFarmInproc(scenario, { dir, runs, targetRel }) {
  const r = await measure(process.execPath, [path.join(BENCH, "farm-inproc.mjs"), "--root", dir, "--scenario", scenario, "--runs", String(runs), "--warmup", "1", "--file", targetRel], {
    cwd: dir,
    env: { ...process.env, NODE_ENV: "production", FARM_NO_DAEMON: "1" },
  });
  const j = parseJsonOut(r.stdout);
  const failures = [];
  if (!j) failures.push(`no JSON (exit ${r.code}): ${r.stderr.slice(0, 400)}`);
  else if (!j.ok) failures.push(j.error?.split("\n")[0] ?? "failed");
  else
    j.caches.forEach((c, i) => {
      const p = checkPerTask(scenario, c);
      if (p) failures.push(`run ${i + 1}: ${p}`);
    });
  const times = j?.times ?? [];
  return {
    scenario,
    tool: "farm-inproc",
    label: "farm in-process (one Node process, fresh orchestrator per build)",
    medianMs: times.length ? median(times) : null,
    minMs: times.length ? Math.min(...times) : null,
    maxMs: times.length ? Math.max(...times) : null,
    timesMs: times,
    peakRssKiB: j?.maxRssKiB ?? r.rssKiB,
    valid: failures.length === 0 && times.length > 0,
    failures,
  };
}

/** The nx daemon's pid (from its server-process.json) and its VmHWM, if it is running. */
function nxDaemonHwm(dir) {
  try {
    const j = JSON.parse(fs.readFileSync(path.join(dir, ".nx/workspace-data/d/server-process.json"), "utf8"));
    const st = fs.readFileSync(`/proc/${j.processId}/status`, "utf8");
    const m = /VmHWM:\s+(\d+) kB/.exec(st);
    return m ? { pid: j.processId, hwmKiB: Number(m[1]) } : null;
  } catch {
    return null;
  }
}

/** `farm daemon ACTION` in `dir` (synchronous: it is a prepare step, untimed). */
function farmDaemonCli(dir, action) {
  return spawnSync(process.execPath, [FARM_CLI, "daemon", action], { cwd: dir, encoding: "utf8", env: { ...process.env, FARM_NO_DAEMON: "" } });
}

/** Starts the fixture's farm daemon unless one runs (e.g. after a cold run deleted .farm/). */
function ensureFarmDaemon(dir) {
  if (farmDaemonCli(dir, "status").status === 0) return;
  const r = farmDaemonCli(dir, "start");
  if (r.status !== 0) throw new Error(`farm daemon start failed (exit ${r.status}): ${r.stderr || r.stdout}`);
}

/** The farm daemon's pid (from `farm daemon status`) and its VmHWM, if it is running. */
function farmDaemonHwm(dir) {
  const m = /pid (\d+)/.exec(farmDaemonCli(dir, "status").stdout ?? "");
  if (!m) return null;
  try {
    const h = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${m[1]}/status`, "utf8"));
    return h ? { pid: Number(m[1]), hwmKiB: Number(h[1]) } : null;
  } catch {
    return null;
  }
}

async function stopNx(dir, nxBin) {
  await measure(process.execPath, [nxBin, "daemon", "--stop"], { cwd: dir, env: { ...process.env, NX_DAEMON: "true", NX_NO_CLOUD: "true" }, timeoutMs: 60_000 });
}

// ----------------------------------------------------------------------------------- output
const fmtMs = (x) => (x == null ? "-" : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(0)} ms`);
const fmtMiB = (k) => (k == null ? "-" : `${(k / 1024).toFixed(1)} MiB`);

function printTable(title, rows, farmId) {
  const farm = rows.find((r) => r.tool === farmId && r.valid);
  const lines = [["tool", "median", "min–max", "×farm", "peak RSS", "status"]];
  for (const r of rows) {
    r.ratioToFarm = farm && r.medianMs != null ? r.medianMs / farm.medianMs : null;
    lines.push([
      r.label,
      fmtMs(r.medianMs),
      r.minMs == null ? "-" : `${fmtMs(r.minMs)}–${fmtMs(r.maxMs)}`,
      r.ratioToFarm == null ? "-" : `${r.ratioToFarm.toFixed(2)}×`,
      fmtMiB(r.peakRssKiB) + (r.daemonHwmKiB ? ` (+daemon ${fmtMiB(r.daemonHwmKiB)})` : ""),
      r.valid ? "ok" : `INVALID: ${r.failures[0]}`,
    ]);
  }
  const w = lines[0].map((_, c) => Math.max(...lines.map((l) => (c === 5 ? 0 : String(l[c]).length))));
  process.stdout.write(`\n${title}\n`);
  for (const [i, l] of lines.entries()) {
    process.stdout.write(l.map((c, j) => (j === 5 ? c : j === 0 ? String(c).padEnd(w[j]) : String(c).padStart(w[j]))).join("  ") + "\n");
    if (i === 0) process.stdout.write(w.slice(0, 5).map((x) => "-".repeat(x)).join("  ") + "  ------\n");
  }
}

/**
 * The goals of the speed issue, each with its ratio and PASS / MISS / N/A. Goals the issue sets
 * for 100,000 files are judged only at that size (at others their ratio is shown, marked "info").
 */
function checkTargets(size, rows) {
  const get = (s, t) => rows.find((r) => r.scenario === s && r.tool === t && r.valid && r.medianMs != null);
  const out = [];
  const big = size >= 100_000;
  const add = (name, a, b, ratio, limit, { only100k = false, higherIsBetter = false } = {}) => {
    if (!a || !b) return out.push({ target: name, result: "N/A", ratio: null, detail: "a row is missing or invalid" });
    const r = ratio(a, b);
    const ok = higherIsBetter ? r >= limit : r <= limit;
    const judged = !only100k || big;
    out.push({ target: name, result: judged ? (ok ? "PASS" : "MISS") : "info", ratio: r, detail: `${r.toFixed(2)}× (${fmtMs(a.medianMs)} vs ${fmtMs(b.medianMs)})${judged ? "" : "; the goal is set for 100,000 files"}` });
  };
  const farmNoop = get("noop", "farm");
  add("no-op cached, no daemon: ≥ 3× faster than turbo (turbo/farm)", get("noop", "turbo"), farmNoop, (t, f) => t.medianMs / f.medianMs, 3, { higherIsBetter: true });
  add("no-op cached: ≤ 1.3× the walk+stat floor (farm/floor)", farmNoop, get("noop", "floor-walk-stat"), (f, fl) => f.medianMs / fl.medianMs, 1.3, { only100k: true });
  add("cold hash: ≤ 1.1× the walk+read+xxh3 floor (farm/floor)", get("cold", "farm"), get("cold", "floor-walk-read-xxh3"), (f, fl) => f.medianMs / fl.medianMs, 1.1, { only100k: true });
  const farmRows = rows.filter((r) => r.tool === "farm" && r.peakRssKiB != null);
  const peak = farmRows.length ? Math.max(...farmRows.map((r) => r.peakRssKiB)) : null;
  out.push({
    target: "peak RSS ≤ 64 MiB (farm CLI, all scenarios)",
    result: peak == null ? "N/A" : !big ? "info" : peak <= 64 * 1024 ? "PASS" : "MISS",
    ratio: peak == null ? null : peak / (64 * 1024),
    detail: peak == null ? "no farm rows" : `${fmtMiB(peak)} = ${(peak / (64 * 1024)).toFixed(2)}× the cap (largest single process of the farm row)${big ? "" : "; the goal is set for 100,000 files"}`,
  });
  for (const s of ["noop", "edit"]) {
    add(`warm mode: ${s === "noop" ? "a no-op" : "one edited file"} ≤ 0.5× nx's daemon (farm daemon/nx daemon)`, get(s, "farm-daemon"), get(s, "nx-daemon"), (f, n) => f.medianMs / n.medianMs, 0.5, { only100k: true });
  }
  printTargets(`Goals at ${size} files (set by the issue for 2 cores; this machine: ${os.cpus().length} cores)`, out);
  return out;
}

function printTargets(title, targets) {
  process.stdout.write(`\n${title}\n`);
  for (const t of targets) process.stdout.write(`  ${t.result.padEnd(4)}  ${t.target}: ${t.detail}\n`);
}

/** The example app's goal: its no-op build with the TS config ≤ 1.5× the same with a JSON config. */
function exampleTargets(rows) {
  const get = (t) => rows.find((r) => r.tool === t && r.valid && r.medianMs != null);
  const [ts, json, unc] = [get("example-ts"), get("example-json"), get("example-ts-uncached")];
  const t = { target: "example app no-op: TS config ≤ 1.5× JSON config (ts/json)" };
  if (!ts || !json) Object.assign(t, { result: "N/A", ratio: null, detail: rows.find((r) => !r.valid)?.failures?.[0] ?? "a row is missing" });
  else {
    const r = ts.medianMs / json.medianMs;
    Object.assign(t, { result: r <= 1.5 ? "PASS" : "MISS", ratio: r, detail: `${r.toFixed(2)}× (${fmtMs(ts.medianMs)} vs ${fmtMs(json.medianMs)})${unc ? `; without the cached config value ${(unc.medianMs / json.medianMs).toFixed(2)}× (${fmtMs(unc.medianMs)})` : ""}` });
  }
  printTargets("Goal on the example app", [t]);
  return [t];
}

/** bench/RESULTS.md: machine, versions, date, every table and every goal of this run. */
function writeResultsMd(run) {
  const md = [];
  md.push("# Benchmark results", "");
  md.push(`Written by \`npm run bench\` (bench/run.mjs) on ${run.date}. Each row: 1 warm-up + ${run.runs} timed runs, median (min–max); whole processes, OS page cache warm.`, "");
  md.push("| machine | |", "|---|---|");
  md.push(`| CPU | ${run.machine.cpus} × ${run.machine.model} |`, `| memory | ${(run.machine.memBytes / 2 ** 30).toFixed(1)} GiB |`, `| OS | ${run.machine.platform}, ${os.release()} |`);
  md.push(`| load average (1/5/15 min) | ${run.loadStart.map((x) => x.toFixed(2)).join(" / ")} at the start, ${os.loadavg().map((x) => x.toFixed(2)).join(" / ")} at the end${Math.max(...run.loadStart, ...os.loadavg()) > run.machine.cpus ? " (above the core count: the machine was shared, times are inflated and noisy)" : ""} |`);
  md.push(`| Node.js | ${run.machine.node} |`, `| farm | ${run.versions.farm} (addon: ${run.addon}) |`, `| turbo | ${run.versions.turbo} |`, `| nx | ${run.versions.nx} |`, "");
  if (run.notes.length) md.push(...run.notes.map((n) => `> ${n}`), "");
  const cell = (r) => (r.medianMs == null ? "-" : `${fmtMs(r.medianMs)} (${fmtMs(r.minMs)}–${fmtMs(r.maxMs)})`);
  for (const sz of run.sizes) {
    md.push(`## ${sz.size.toLocaleString("en")} files (${sz.inputFiles.toLocaleString("en")} under apps/)`, "");
    for (const [sc, title] of Object.entries(sz.titles)) {
      const rows = sz.rows.filter((r) => r.scenario === sc);
      if (!rows.length) continue;
      md.push(`### ${title}`, "", "| tool | median (min–max) | ×farm | peak RSS | status |", "|---|---|---|---|---|");
      for (const r of rows) md.push(`| ${r.label} | ${cell(r)} | ${r.ratioToFarm == null ? "-" : `${r.ratioToFarm.toFixed(2)}×`} | ${fmtMiB(r.peakRssKiB)} | ${r.valid ? "ok" : `INVALID: ${String(r.failures[0]).replace(/\|/g, "\\|").slice(0, 200)}`} |`);
      md.push("");
    }
    md.push(`### Goals at ${sz.size.toLocaleString("en")} files`, "", "| goal | ratio | result | detail |", "|---|---|---|---|");
    for (const t of sz.targets) md.push(`| ${t.target} | ${t.ratio == null ? "-" : `${t.ratio.toFixed(2)}×`} | **${t.result}** | ${t.detail} |`);
    md.push("");
  }
  if (run.example) {
    md.push("## Example app (examples/farm-app), no-op build", "", "| variant | median (min–max) | status |", "|---|---|---|");
    for (const r of run.example.rows) md.push(`| ${r.label} | ${cell(r)} | ${r.valid ? "ok" : `INVALID: ${String(r.failures[0]).slice(0, 200)}`} |`);
    md.push("", "| goal | ratio | result | detail |", "|---|---|---|---|");
    for (const t of run.example.targets) md.push(`| ${t.target} | ${t.ratio == null ? "-" : `${t.ratio.toFixed(2)}×`} | **${t.result}** | ${t.detail} |`);
    md.push("");
  }
  for (const x of run.extras ?? []) {
    const cols = [...new Set(x.rows.flatMap((r) => Object.keys(r)))].filter((c) => x.rows.some((r) => typeof r[c] !== "object" || r[c] === null));
    const cell = (v) => (v == null ? "-" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : String(v).replace(/\|/g, "\\|"));
    md.push(`## ${x.title}`, "", `| ${cols.join(" | ")} |`, `|${cols.map(() => "---").join("|")}|`);
    for (const r of x.rows) md.push(`| ${cols.map((c) => cell(r[c])).join(" | ")} |`);
    md.push("");
  }
  md.push("Rows, every run's time and the failures are in `bench/results/*.json` of the same run (not committed). Where a goal is missed, `farm build --profile trace.json` on the fixture shows where the time goes.", "");
  const file = path.join(BENCH, "RESULTS.md");
  fs.writeFileSync(file, md.join("\n"));
  log(`wrote ${path.relative(REPO, file)}`);
}

function stamp() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

function printGenericRows(title, rows) {
  process.stdout.write(`\n${title}\n`);
  if (!Array.isArray(rows) || !rows.length) {
    process.stdout.write("  (no rows)\n");
    return;
  }
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((c) => rows.some((r) => typeof r[c] !== "object" || r[c] === null));
  const cell = (v) => (v == null ? "-" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : String(v));
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  process.stdout.write(cols.map((c, i) => c.padEnd(w[i])).join("  ") + "\n");
  for (const r of rows) process.stdout.write(cols.map((c, i) => cell(r[c]).padEnd(w[i])).join("  ") + "\n");
}

/** Runs bench/<name>.mjs's `run()` if that file exists (written by other helpers). */
async function runExtra(name, opts, when) {
  const file = path.join(BENCH, `${name}.mjs`);
  if (!fs.existsSync(file)) return;
  try {
    const mod = await import(pathToFileURL(file).href);
    if (typeof mod.run !== "function") {
      log(`${name}.mjs has no exported run(): skipped`);
      return;
    }
    const rows = await mod.run(opts);
    printGenericRows(`bench/${name}.mjs`, rows);
    const out = path.join(BENCH, "results", `${when}-${name}.json`);
    writeJson(out, { name, date: new Date().toISOString(), rows });
    log(`wrote ${path.relative(REPO, out)}`);
    return rows;
  } catch (e) {
    log(`${name}.mjs failed: ${e?.stack ?? e}`);
    return null;
  }
}

// --------------------------------------------------------------------------------------- main
async function main() {
  const opts = parseArgs(process.argv.slice(2));
  ensureShared();
  const { turboBin, nxBin, versions } = ensureBenchDeps();
  const floorBin = opts.floor ? ensureFloor(opts.rebuildFloor) : null;
  const farm = farmStatus();
  if (!farm.ready) log("farm build has no --dry-run yet (the task cache interface has not landed): farm rows are skipped, peers still run");
  if (farm.addonNote) log(`warning: ${farm.addonNote}`);
  const when = stamp();
  fs.mkdirSync(path.join(BENCH, "results"), { recursive: true });
  const wanted = (t) => !opts.tools || opts.tools.includes(t.id);
  const addonFile = fs.readdirSync(REPO).find((f) => f.endsWith(".node"));
  const run = {
    date: new Date().toISOString(),
    loadStart: os.loadavg(),
    runs: opts.runs,
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? null, memBytes: os.totalmem(), platform: `${process.platform}-${process.arch}`, node: process.version },
    versions: { ...versions, farm: JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")).version },
    addon: addonFile ? `${addonFile}, ${addonProfile(path.join(REPO, addonFile))}` : "none",
    notes: [farm.addonNote, floorBin ? null : `The walk+stat and walk+read+xxh3 floors (examples/bench_floor.rs) were ${opts.floor ? "not built" : "skipped (--no-floor)"}: their goals are N/A.`].filter(Boolean),
    sizes: [],
    example: null,
  };

  process.stdout.write(`farm bench: sizes ${opts.sizes.join(", ")}; ${opts.runs} timed runs + 1 warm-up per row; ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? "?"}; node ${process.version}; turbo ${versions.turbo}, nx ${versions.nx}\n`);

  for (const size of opts.sizes) {
    const dir = makeFixture(size);
    const inputFiles = countFiles(path.join(dir, "apps"));
    const targetRel = pickTarget(dir);
    const tools = defineTools({ dir, turboBin, nxBin, floorBin, farmReady: farm.ready }).filter(wanted);
    const mutator = makeMutator(dir, targetRel);
    const rows = [];
    try {
      for (const scenario of opts.scenarios) {
        log(`${size} files: scenario ${scenario} ...`);
        // The rows without a daemon run first, with no daemon up: a daemon watching the tree
        // takes CPU (and an inotify event for every file or directory another process opens in
        // it), which would burden rows that claim none. Then the daemon rows; their daemons are
        // stopped after the scenario (the next one's untimed warm-up round starts them again).
        const isDaemon = (t) => Boolean(t.daemon || t.farmDaemon);
        const sRows = await runScenario(scenario, tools.filter((t) => !isDaemon(t)), { dir, runs: opts.runs, mutator });
        if (scenario !== "cold" && farm.ready && wanted({ id: "farm-inproc" })) {
          mutator.restore();
          sRows.push(await runFarmInproc(scenario, { dir, runs: opts.runs, targetRel }));
        }
        mutator.restore();
        sRows.push(...(await runScenario(scenario, tools.filter(isDaemon), { dir, runs: opts.runs, mutator })));
        const nxd = sRows.find((r) => r.tool === "nx-daemon");
        const hwm = nxd && nxDaemonHwm(dir);
        if (hwm) nxd.daemonHwmKiB = hwm.hwmKiB;
        const fd = sRows.find((r) => r.tool === "farm-daemon");
        const fhwm = fd && farmDaemonHwm(dir);
        if (fhwm) fd.daemonHwmKiB = fhwm.hwmKiB;
        if (tools.some((t) => t.daemon)) await stopNx(dir, nxBin);
        if (tools.some((t) => t.farmDaemon)) farmDaemonCli(dir, "stop");
        // Printed in the tools' order, farm in-process second.
        const order = (r) => (r.tool === "farm-inproc" ? 0.5 : tools.findIndex((t) => t.id === r.tool));
        sRows.sort((a, b) => order(a) - order(b));
        rows.push(...sRows);
        mutator.restore();
      }
    } finally {
      mutator.restore();
      if (tools.some((t) => t.daemon)) await stopNx(dir, nxBin);
      if (tools.some((t) => t.farmDaemon)) farmDaemonCli(dir, "stop");
    }
    const titles = {
      cold: "cold hash (no cache, no stat cache; OS page cache warm)",
      noop: "no-op, fully cached build",
      touch: `one file touched (mtime only: ${targetRel})`,
      edit: `one file edited (a miss for web-build: ${targetRel})`,
    };
    process.stdout.write(`\n=== ${size} files (${inputFiles} files under apps/) ===\n`);
    for (const s of opts.scenarios) printTable(`[${size}] ${titles[s]}`, rows.filter((r) => r.scenario === s), "farm");
    const targets = checkTargets(size, rows);
    run.sizes.push({ size, inputFiles, rows, targets, titles: Object.fromEntries(opts.scenarios.map((s) => [s, titles[s]])) });
    const out = path.join(BENCH, "results", `${when}-${size}.json`);
    writeJson(out, {
      date: new Date().toISOString(),
      size,
      inputFiles,
      runs: opts.runs,
      warmup: 1,
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? null, memBytes: os.totalmem(), platform: `${process.platform}-${process.arch}`, node: process.version },
      versions: { ...versions, farm: JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")).version },
      farmInterface: farm.ready,
      notes: [farm.addonNote, "peakRssKiB: GNU time %M = ru_maxrss of the largest single process in the waited-for tree; daemons excluded (nx-daemon, farm-daemon: daemonHwmKiB = the daemon's VmHWM)"].filter(Boolean),
      touchedFile: targetRel,
      rows,
      targets,
    });
    log(`wrote ${path.relative(REPO, out)}`);
    if (opts.keep) log(`kept the fixture: ${dir}`);
    // maxRetries: a process a tool left behind (turbo's daemon) may still be writing into .git.
    else fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }

  if (opts.example && farm.ready) {
    log("example app: no-op with the TS config, without its cached value, and with a JSON config ...");
    const mod = await import(pathToFileURL(path.join(BENCH, "example-config.mjs")).href);
    const rows = await mod.run({ runs: opts.runs });
    printTable("example app (examples/farm-app): no-op build", rows, "example-json");
    run.example = { rows, targets: exampleTargets(rows) };
    writeJson(path.join(BENCH, "results", `${when}-example.json`), { date: run.date, ...run.example });
  }
  // The other benchmarks; their tables go into RESULTS.md too.
  run.extras = [];
  const extra = async (name, title, ctx) => {
    const rows = await runExtra(name, ctx, when);
    if (Array.isArray(rows) && rows.length) run.extras.push({ name, title, rows });
  };
  await extra("frontend", "Frontend assets (bench/frontend.mjs)", opts);
  await extra("typegen", "OpenAPI → TypeScript (bench/typegen.mjs)", opts);
  // Fresh clone with a warm remote cache vs a full build, farm and turbo on one local server.
  if (opts.remote && farm.ready) {
    await extra("remote", "Remote cache: a fresh clone with a warm remote cache vs a full build, farm and turbo on one turborepo-remote-cache (10,000 files, bench/remote.mjs)", { ...opts, gen: GEN, turboBin, writePeerConfigs });
  }
  if (opts.resultsMd) writeResultsMd(run);
}

await main();
