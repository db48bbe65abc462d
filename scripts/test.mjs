// All tests: Rust unit tests, then the node:test suites (JS surface and end to end on the example).
import { hostTriple, setup, run, REPO } from './setup.mjs';

const t0 = Date.now();
const at = (what) => process.stderr.write(`== [${((Date.now() - t0) / 1000).toFixed(0)} s] ${what}\n`);
// For the host triple, as scripts/build.mjs builds the addon: the tests reuse its dependencies.
run('cargo', ['test', '--quiet', '--target', hostTriple()], { cwd: REPO });
at('cargo test done; setting up the example');
setup('debug');
at('node:test suites');
run(process.execPath, ['--test', '--test-concurrency=1', '__test__/'], { cwd: REPO });
// The suites above run `farm build` through bin/farm.mjs, which offers it to the native executable
// (it answers the all-cached builds). The suites that drive the CLI run again through the JavaScript
// path alone, so both paths pass them (native.test.mjs compares the two outputs directly).
at('CLI suites through the JavaScript path (FARM_NATIVE=0)');
// (e2e, the slowest, builds the example through Vite, which the native path hands to Node anyway.)
const CLI_SUITES = ['cli', 'noop', 'config-cache', 'cache', 'daemon', 'travel', 'trust', 'profile'];
run(process.execPath, ['--test', '--test-concurrency=1', ...CLI_SUITES.map((s) => `__test__/${s}.test.mjs`)], {
  cwd: REPO,
  env: { ...process.env, FARM_NATIVE: '0' },
});
at('all tests passed');
