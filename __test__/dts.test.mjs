// index.d.ts types the JS API: real usage type-checks, a wrong use does not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO } from './helpers.mjs';

const TSC = path.join(REPO, 'node_modules/typescript/bin/tsc');

function check(source) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'farm-dts-'));
  symlinkSync(REPO, path.join(dir, 'farm'));
  writeFileSync(path.join(dir, 'use.ts'), source);
  return spawnSync(process.execPath, [TSC, '--noEmit', '--strict', '--module', 'nodenext', '--target', 'es2022', '--lib', 'es2022,dom', 'use.ts'], {
    cwd: dir,
    encoding: 'utf8',
  });
}

const GOOD = `import type { BuildOrchestrator as B, BuildResult, BuildEvent, BuildOptions } from './farm/index.js';
declare const B0: typeof B;
const orch = new B0({ appName: 'x' }, { root: '.', configFile: 'farm.config.ts' });
const opts: BuildOptions = { signal: new AbortController().signal, onEvent: (evs: BuildEvent[]) => evs.forEach((e) => e.kind), continueOnError: true, noCache: false };
const r: Promise<BuildResult> = orch.build(['frontend'], opts);
r.then((res) => {
  const code: string | undefined = res.error?.code;
  const hashes: string[] = res.artifacts.map((a) => a.hash + a.type + a.path + a.size);
  const cache = res.tasks.map((t) => [t.name, t.status, t.cache, t.key, t.restoreMs]);
  const mem: number = res.metrics.peakRssBytes;
  return [code, hashes, cache, mem, res.buildId, res.duration];
});
const plan: Array<{ name: string; deps: string[] }> = orch.plan(['backend']);
`;

test('index.d.ts: real usage type-checks', () => {
  const r = check(GOOD);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('index.d.ts: a wrong use fails to type-check', () => {
  const r = check(`${GOOD}\nconst wrong: number = orch.plan()[0].name;\norch.build(['x'], { onEvent: 42 });\n`);
  assert.notEqual(r.status, 0);
  assert.match(r.stdout, /use\.ts\(\d+,\d+\): error TS2322/);
});
