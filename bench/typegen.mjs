// Benchmark: native OpenAPI → TypeScript generation vs openapi-typescript 7's CLI on the same
// documents — the example app's schema and a generated schema with 600 models. Both sides are
// measured as whole processes (what a build pays): `farm typegen` vs `openapi-typescript`; the
// in-process generation time of each is printed too. Outputs are checked equal (after the header).
// Not a test: it prints ratios; `bench/run.mjs` imports `run()`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const FARM = path.join(REPO, 'bin/farm.mjs');
const OTS = path.join(REPO, 'node_modules/openapi-typescript/bin/cli.js');

/** A deterministic OpenAPI 3.1 document with `n` models (objects, enums, refs, arrays, nullables, maps). */
export function bigSchema(n = 600) {
  const schemas = {};
  const paths = {};
  for (let i = 0; i < n; i++) {
    const props = {
      id: { type: 'integer', title: 'Id' },
      name: { type: 'string', title: 'Name', description: `Name of model ${i}` },
      status: { type: 'string', enum: ['draft', 'active', 'archived'], default: 'draft' },
      tags: { type: 'array', items: { type: 'string' } },
      extra: { type: 'object', additionalProperties: { type: 'number' } },
      note: { anyOf: [{ type: 'string' }, { type: 'null' }], default: null },
    };
    if (i > 0) props.parent = { $ref: `#/components/schemas/Model${i - 1}` };
    if (i > 1) props.related = { type: 'array', items: { $ref: `#/components/schemas/Model${i - 2}` } };
    schemas[`Model${i}`] = { type: 'object', title: `Model${i}`, properties: props, required: ['id', 'name'] };
    if (i % 4 === 0) {
      paths[`/api/model${i}/{item_id}`] = {
        get: {
          operationId: `get_model${i}`,
          parameters: [
            { name: 'item_id', in: 'path', required: true, schema: { type: 'integer' } },
            { name: 'q', in: 'query', required: false, schema: { anyOf: [{ type: 'string' }, { type: 'null' }] } },
          ],
          responses: {
            200: { description: 'OK', content: { 'application/json': { schema: { $ref: `#/components/schemas/Model${i}` } } } },
            404: { description: 'Not found' },
          },
        },
        put: {
          operationId: `put_model${i}`,
          parameters: [{ name: 'item_id', in: 'path', required: true, schema: { type: 'integer' } }],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/Model${i}` } } } },
          responses: { 200: { description: 'OK', content: { 'application/json': { schema: { $ref: `#/components/schemas/Model${i}` } } } } },
        },
      };
    }
  }
  return { openapi: '3.1.0', info: { title: 'Big', version: '1.0.0' }, paths, components: { schemas } };
}

/** The example app's schema: from the last build, else exported with the example's venv. */
function exampleSchema() {
  const built = path.join(REPO, 'examples/farm-app/dist/openapi/openapi.json');
  if (existsSync(built)) return JSON.parse(readFileSync(built, 'utf8'));
  const py = path.join(REPO, 'examples/farm-app/.venv/bin/python');
  const r = spawnSync(py, ['-c', 'import json, main; print(json.dumps(main.app.openapi()))'], {
    cwd: path.join(REPO, 'examples/farm-app/apps/api'),
    encoding: 'utf8',
  });
  if (r.status !== 0) return null;
  return JSON.parse(r.stdout);
}

function timeProcess(args, runs) {
  const times = [];
  for (let i = 0; i <= runs; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
    if (i > 0) times.push(ms); // first run is a warm-up
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const body = (t) => t.slice(t.indexOf(' */\n\n') + 5);

/** Runs the benchmark; returns rows `{ name, farm_ms, peer_ms, ratio, note }` (ratio = peer / farm). */
export async function run({ runs = 5 } = {}) {
  if (!existsSync(OTS)) throw new Error('openapi-typescript is not installed: run npm ci at the repository root');
  const { generateTypes } = await import(path.join(REPO, 'js/index.mjs'));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'farm-bench-typegen-'));
  const docs = [['example app schema', exampleSchema()], ['600-model schema', bigSchema(600)]].filter(([, d]) => d);
  const rows = [];
  for (const [name, doc] of docs) {
    const spec = path.join(dir, `${rows.length}.json`);
    writeFileSync(spec, JSON.stringify(doc));
    const ours = path.join(dir, `${rows.length}.farm.ts`);
    const ref = path.join(dir, `${rows.length}.ots.ts`);
    const farmMs = timeProcess([FARM, 'typegen', spec, '-o', ours], runs);
    const otsMs = timeProcess([OTS, spec, '-o', ref], runs);
    const same = body(readFileSync(ours, 'utf8')) === body(readFileSync(ref, 'utf8'));
    const t = process.hrtime.bigint();
    generateTypes(doc);
    const inProc = Number(process.hrtime.bigint() - t) / 1e6;
    rows.push({
      name: `typegen: ${name} (${Object.keys(doc.components?.schemas ?? {}).length} models)`,
      farm_ms: farmMs,
      peer_ms: otsMs,
      ratio: otsMs / farmMs,
      note: `openapi-typescript CLI vs farm typegen, whole processes, median of ${runs}; native in-process ${inProc.toFixed(1)} ms; outputs ${same ? 'identical' : 'DIFFER'}`,
    });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await run();
  for (const r of rows) {
    console.log(`${r.name.padEnd(48)} farm ${r.farm_ms.toFixed(0).padStart(6)} ms   openapi-typescript ${r.peer_ms.toFixed(0).padStart(6)} ms   ${r.ratio.toFixed(1)}× faster   (${r.note})`);
  }
}
