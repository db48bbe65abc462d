// The CLI's help is made from the same table as its parser, and warnings are shown on a TTY (live)
// and in the summary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { FARM, project } from './helpers.mjs';
import { BUILD } from '../js/cli/build.mjs';
import { CACHE } from '../js/cli/cache.mjs';
import { ANALYZE } from '../js/cli/analyze.mjs';
import { OPTIMIZE } from '../js/cli/optimize.mjs';
import { TYPEGEN } from '../js/cli/typegen.mjs';
import { INIT } from '../js/cli/init.mjs';

const farm = (cwd, ...args) => spawnSync(process.execPath, [FARM, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
const { builtinTasks } = createRequire(import.meta.url)('../index.js');

test('every command: each flag the parser takes is in its help, and each flag in the help parses', () => {
  const commands = { build: BUILD, cache: CACHE, analyze: ANALYZE, optimize: OPTIMIZE, typegen: TYPEGEN, init: INIT };
  const dir = project({});
  for (const [name, cmd] of Object.entries(commands)) {
    const r = farm(dir, name, '--help');
    assert.equal(r.status, 0, `${name}: ${r.stderr}`);
    const inHelp = [...r.stdout.matchAll(/^ {2}(?:-(\w), )? *--([a-z-]+)/gm)].map((m) => m[2]);
    assert.deepEqual(inHelp.sort(), cmd.options.map((o) => o.name).sort(), `${name}: help vs parser`);
    for (const o of cmd.options) {
      const args = [`--${o.name}`, ...(o.type === 'string' ? ['x'] : [])];
      assert.doesNotThrow(() => cmd.parse(args), `${name} ${args.join(' ')}`);
      if (o.short) assert.doesNotThrow(() => cmd.parse([`-${o.short}`, ...args.slice(1)]), `${name} -${o.short}`);
    }
    assert.throws(() => cmd.parse(['--not-a-flag']), /Unknown option/);
  }
  const top = farm(dir, '--help').stdout;
  for (const name of Object.keys(commands)) assert.match(top, new RegExp(`^  farm ${name}\\b`, 'm'), name);
});

test('farm build --help lists every task: the built-in ones and the config\'s command tasks', () => {
  const tasks = builtinTasks();
  assert.deepEqual(tasks, ['backend', 'types', 'typecheck', 'frontend', 'ai-models', 'docker']);
  const bare = farm(project({}), 'build', '--help').stdout;
  for (const t of tasks) assert.match(bare, new RegExp(`\\b${t}\\b`), t);
  assert.match(bare, /every `tasks\.<name>` of farm\.config/);
  const dir = project({ 'farm.config.json': JSON.stringify({ appName: 'x', tasks: { lint: { command: 'true' }, 'e2e:smoke': { command: 'true' } } }) });
  const h = farm(dir, 'build', '--help').stdout;
  assert.match(h, /e2e:smoke/);
  assert.match(h, /\blint\b/);
  assert.match(h, /Warnings are shown as they happen and again in the summary/);
});

test('warnings: shown live on a TTY and again in the summary', () => {
  const dir = project({
    'farm.config.json': JSON.stringify({ appName: 'warn', ai: { providers: { ollama: { models: ['tiny'], url: 'http://127.0.0.1:9', timeoutMs: 300, retries: 0 } } } }),
  });
  // `script` gives the build a pseudo-terminal, so the live view runs.
  const r = spawnSync('script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(FARM)} build`, '/dev/null'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const text = r.stdout.replace(/\r/g, '');
  assert.match(text, /\x1b\[2K/, 'the live view drew its lines');
  const summaryAt = text.indexOf('warnings:');
  assert.ok(summaryAt > 0, text);
  const live = text.slice(0, summaryAt);
  assert.match(live, /^! ai-models: cannot reach the Ollama server at http:\/\/127\.0\.0\.1:9/m, 'live');
  assert.match(text.slice(summaryAt), /^! ai-models: cannot reach the Ollama server/m, 'summary');
  assert.match(text, /\d+ warnings?:/);
  // Not a TTY: the plain view prints them too.
  const plain = farm(dir, 'build', '--no-cache');
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal(plain.stdout.match(/^! ai-models: cannot reach/gm).length, 2, plain.stdout);
});
