#!/usr/bin/env node
// The naive peer: a faithful Node port of the seed's `BuildCache`
// (/work/shared/seed/000_2f667fc10f55b2aa.txt, "Build Cache System", packages/core/src/build/cache.ts).
//
// Same algorithm as the seed:
// - key = sha256 over JSON {name, builder, dependencies, config} then, per input in order, the
//   whole contents of each *file* input and, for each *directory* input, hashDirectory(): a sha256
//   over (relative path, mtime ISO string, size) of every file, sorted by path. Directory contents
//   are NOT read: a touched file (mtime only) changes the key (a false miss), and an edit that keeps
//   size and mtime would be a false hit.
// - get(): in-memory index lookup, 7-day TTL, read <cacheDir>/<key>/result.json, check each
//   artifact exists under <key>/artifacts/, else invalidate. Outputs are not restored (the seed
//   only returns the cached result).
// - set(): write result.json, copy artifacts (fs.copy), record size, LRU cleanup above maxSize.
//
// What the seed leaves undefined and this port fills in (marked "port:" below):
// - initializeCache(): the seed's index is in memory only, so a fresh process would never hit;
//   here it is rebuilt by scanning <cacheDir>/*/result.json (timestamp = its mtime).
// - getFilesRecursively(), getDirectorySize(), sanitizeConfig(): plain sequential async fs.
// - getTaskInputs(): the seed hard-codes inputs per builder (incl. apps/web/tailwind.config.js,
//   absent from the fixture, which would make readFile throw); here they come from the same
//   farm.config.json tasks the other tools use: a `dir/**` glob is a directory input, any other
//   entry a file input.
// - fs-extra (readJSON, pathExists, copy, ensureDir, remove) is replaced by node:fs/promises.
//
// CLI (used by bench/run.mjs, cwd = fixture root):
//   node naive-cache.mjs build [--json]   key → get → on a miss run the task's command, then set()
//   node naive-cache.mjs keys  [--json]   keys only (the "cold hash" scenario)
// Prints {tasks:[{name, key, cache:"hit"|"miss"}]} with --json. Cache: .farm/naive-cache (gitignored).

import crypto from "node:crypto";
import fs from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";

export class BuildCache {
  constructor(cacheDir, maxSize = 5 * 1024 * 1024 * 1024) {
    // 5GB default
    this.cacheDir = cacheDir;
    this.maxCacheSize = maxSize;
    /** @type {Map<string, {key: string, timestamp: number, lastAccessed: number, size: number}>} */
    this.cacheIndex = new Map();
    this.ready = this.initializeCache();
  }

  // port: not shown in the seed; rebuild the index from disk so a new process can hit.
  async initializeCache() {
    let names = [];
    try {
      names = await fs.readdir(this.cacheDir);
    } catch {
      return;
    }
    for (const key of names) {
      try {
        const st = await fs.stat(path.join(this.cacheDir, key, "result.json"));
        const size = await this.getDirectorySize(path.join(this.cacheDir, key));
        this.cacheIndex.set(key, { key, timestamp: st.mtimeMs, lastAccessed: st.atimeMs, size });
      } catch {
        // not an entry
      }
    }
  }

  async getCacheKey(task) {
    const inputs = await this.getTaskInputs(task);
    const hash = crypto.createHash("sha256");

    // Hash task configuration
    hash.update(
      JSON.stringify({
        name: task.name,
        builder: task.builder,
        dependencies: task.dependencies,
        config: this.sanitizeConfig(task.config || {}),
      }),
    );

    // Hash input files
    for (const input of inputs) {
      if (input.type === "file") {
        const content = await fs.readFile(input.path);
        hash.update(content);
      } else if (input.type === "directory") {
        const dirHash = await this.hashDirectory(input.path);
        hash.update(dirHash);
      }
    }

    return hash.digest("hex");
  }

  async get(cacheKey) {
    const cacheEntry = this.cacheIndex.get(cacheKey);
    if (!cacheEntry) {
      return null;
    }

    // Check if cache entry is still valid
    if (Date.now() - cacheEntry.timestamp > this.getCacheTTL()) {
      await this.invalidate(cacheKey);
      return null;
    }

    try {
      const cachePath = path.join(this.cacheDir, cacheKey);
      const cacheData = JSON.parse(await fs.readFile(path.join(cachePath, "result.json"), "utf8"));

      // Verify cached artifacts still exist
      for (const artifact of cacheData.artifacts) {
        const artifactPath = path.join(cachePath, "artifacts", artifact.path);
        if (!(await pathExists(artifactPath))) {
          await this.invalidate(cacheKey);
          return null;
        }
      }

      // Update access time
      cacheEntry.lastAccessed = Date.now();

      return cacheData;
    } catch {
      // Cache corruption, invalidate
      await this.invalidate(cacheKey);
      return null;
    }
  }

  async set(cacheKey, result) {
    const cachePath = path.join(this.cacheDir, cacheKey);
    await fs.mkdir(cachePath, { recursive: true });

    // Store build result
    await fs.writeFile(path.join(cachePath, "result.json"), JSON.stringify(result, null, 2) + "\n");

    // Store artifacts
    const artifactsDir = path.join(cachePath, "artifacts");
    await fs.mkdir(artifactsDir, { recursive: true });

    for (const artifact of result.artifacts) {
      const sourcePath = artifact.path;
      const targetPath = path.join(artifactsDir, artifact.path);

      await fs.mkdir(path.dirname(targetPath), { recursive: true });

      if (await pathExists(sourcePath)) {
        await fs.cp(sourcePath, targetPath, { recursive: true });
      }
    }

    // Update cache index
    const cacheEntry = {
      key: cacheKey,
      timestamp: Date.now(),
      lastAccessed: Date.now(),
      size: await this.getDirectorySize(cachePath),
    };

    this.cacheIndex.set(cacheKey, cacheEntry);

    // Cleanup old cache entries if needed
    await this.cleanupCache();
  }

  // port: the seed switches on task.builder with hard-coded paths; the bench passes the inputs
  // of the same farm.config.json task the other tools get.
  async getTaskInputs(task) {
    const inputs = [];
    for (const spec of task.inputs) {
      if (spec.endsWith("/**")) inputs.push({ type: "directory", path: path.join(task.cwd, spec.slice(0, -3)) });
      else inputs.push({ type: "file", path: path.join(task.cwd, spec) });
    }
    return inputs;
  }

  async hashDirectory(dirPath) {
    const hash = crypto.createHash("sha256");

    const files = await this.getFilesRecursively(dirPath);

    for (const file of files.sort()) {
      const relativePath = path.relative(dirPath, file);
      hash.update(relativePath);

      const stats = await fs.stat(file);
      hash.update(stats.mtime.toISOString());
      hash.update(stats.size.toString());
    }

    return hash.digest("hex");
  }

  // port: not shown in the seed.
  async getFilesRecursively(dirPath) {
    const out = [];
    for (const e of await fs.readdir(dirPath, { withFileTypes: true })) {
      const p = path.join(dirPath, e.name);
      if (e.isDirectory()) out.push(...(await this.getFilesRecursively(p)));
      else out.push(p);
    }
    return out;
  }

  // port: not shown in the seed.
  async getDirectorySize(dirPath) {
    let size = 0;
    for (const f of await this.getFilesRecursively(dirPath)) size += (await fs.stat(f)).size;
    return size;
  }

  // port: not shown in the seed; drop values of secret-looking keys.
  sanitizeConfig(config) {
    const out = {};
    for (const [k, v] of Object.entries(config)) {
      if (!/secret|token|password|apikey|private/i.test(k)) out[k] = v;
    }
    return out;
  }

  async cleanupCache() {
    const totalSize = Array.from(this.cacheIndex.values()).reduce((sum, entry) => sum + entry.size, 0);

    if (totalSize <= this.maxCacheSize) {
      return;
    }

    // Sort by last accessed time (oldest first)
    const sortedEntries = Array.from(this.cacheIndex.entries()).sort(([, a], [, b]) => a.lastAccessed - b.lastAccessed);

    let cleanedSize = 0;
    for (const [key, entry] of sortedEntries) {
      await this.invalidate(key);
      cleanedSize += entry.size;

      if (totalSize - cleanedSize <= this.maxCacheSize * 0.8) {
        break;
      }
    }
  }

  async invalidate(cacheKey) {
    const cachePath = path.join(this.cacheDir, cacheKey);
    await fs.rm(cachePath, { recursive: true, force: true });
    this.cacheIndex.delete(cacheKey);
  }

  getCacheTTL() {
    return 7 * 24 * 60 * 60 * 1000; // 7 days
  }
}

async function pathExists(p) {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/** Tasks of farm.config.json as the seed's BuildTask shape (sequential, like the seed's tasks). */
async function loadTasks(root) {
  const cfg = JSON.parse(await fs.readFile(path.join(root, "farm.config.json"), "utf8"));
  return Object.entries(cfg.tasks).map(([name, t]) => ({
    name,
    builder: name,
    dependencies: t.dependsOn ?? [],
    config: { command: t.command, outputs: t.outputs, env: Object.fromEntries((t.env ?? []).map((k) => [k, process.env[k] ?? null])) },
    cwd: t.cwd,
    command: t.command,
    outputs: t.outputs,
    inputs: t.inputs,
  }));
}

async function main() {
  const [cmd = "build", ...rest] = process.argv.slice(2);
  const json = rest.includes("--json");
  if (cmd !== "build" && cmd !== "keys") {
    process.stderr.write("usage: node naive-cache.mjs build|keys [--json]\n");
    process.exit(2);
  }
  const root = process.cwd();
  const cache = new BuildCache(path.join(root, ".farm", "naive-cache")); // .farm/ is gitignored
  await cache.ready;
  const tasks = await loadTasks(root);
  const out = [];
  for (const task of tasks) {
    const key = await cache.getCacheKey(task);
    if (cmd === "keys") {
      out.push({ name: task.name, key });
      continue;
    }
    const hit = await cache.get(key);
    if (hit) {
      out.push({ name: task.name, key, cache: "hit" });
      continue;
    }
    const r = spawnSync(task.command, { cwd: path.join(root, task.cwd), shell: true, stdio: "ignore" });
    if (r.status !== 0) {
      process.stderr.write(`naive-cache: ${task.name} failed (exit ${r.status})\n`);
      process.exit(1);
    }
    const artifacts = task.outputs
      .map((o) => path.relative(root, path.join(root, task.cwd, o.replace(/\/\*\*$/, ""))))
      .filter((p) => existsSync(p))
      .map((p) => ({ path: p }));
    await cache.set(key, { success: true, task: task.name, artifacts });
    out.push({ name: task.name, key, cache: "miss" });
  }
  if (json) process.stdout.write(JSON.stringify({ tasks: out }) + "\n");
  else for (const t of out) process.stdout.write(`${t.name} ${t.cache ?? ""} ${t.key}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
