#!/usr/bin/env node
// farm in-process: one Node process imports @farm/build-native once (js/index.mjs) and runs
// `warmup + runs` builds of the fixture, each with a fresh `BuildOrchestrator.fromProject(root)`
// (config load included). Before each build it applies the scenario to the fixture, outside the
// timed region: `noop` nothing, `touch` a new mtime on FILE, `edit` new content in FILE.
//
//   node farm-inproc.mjs --root DIR --scenario noop|touch|edit --runs N --warmup W [--file REL]
//
// Prints one JSON line: { times: [ms...], caches: [[{name, cache}]...], ok, error?, maxRssKiB }
// where maxRssKiB is process.resourceUsage().maxRSS of this process (the whole host: Node + addon).

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const root = path.resolve(opt("root", process.cwd()));
const scenario = opt("scenario", "noop");
const runs = Number(opt("runs", "5"));
const warmup = Number(opt("warmup", "1"));
const fileRel = opt("file", null);

const { BuildOrchestrator } = await import(pathToFileURL(path.join(here, "..", "js", "index.mjs")).href);

const file = fileRel ? path.join(root, fileRel) : null;
const original = file ? fs.readFileSync(file) : null;
let counter = 0;
function prepare() {
  counter++;
  if (scenario === "touch") {
    const t = new Date();
    fs.utimesSync(file, t, t);
  } else if (scenario === "edit") {
    fs.writeFileSync(file, Buffer.concat([original, Buffer.from(`\n// farm-inproc edit ${process.pid}-${counter}\n`)]));
  }
}

const times = [];
const caches = [];
let error = null;
try {
  for (let i = 0; i < warmup + runs; i++) {
    prepare();
    const t0 = process.hrtime.bigint();
    const orch = await BuildOrchestrator.fromProject(root);
    const result = await orch.build(undefined, {});
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (!result.success) throw new Error(`build failed: ${JSON.stringify(result.error)}`);
    if (i >= warmup) {
      times.push(ms);
      caches.push((result.tasks ?? []).map((t) => ({ name: t.name, cache: t.cache ?? null, reason: t.reason ?? t.cacheReason ?? t.message ?? null })));
    }
  }
} catch (e) {
  error = String(e?.stack ?? e);
} finally {
  if (scenario === "edit" && original) fs.writeFileSync(file, original);
}
process.stdout.write(JSON.stringify({ times, caches, ok: !error, error, maxRssKiB: process.resourceUsage().maxRSS }) + "\n");
