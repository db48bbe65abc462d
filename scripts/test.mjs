// All tests: Rust unit tests, then the node:test suites (JS surface and end to end on the example).
import { setup, run, REPO } from './setup.mjs';

const t0 = Date.now();
const at = (what) => process.stderr.write(`== [${((Date.now() - t0) / 1000).toFixed(0)} s] ${what}\n`);
run('cargo', ['test', '--quiet'], { cwd: REPO });
at('cargo test done; setting up the example');
setup();
at('node:test suites');
run(process.execPath, ['--test', '--test-concurrency=1', '__test__/'], { cwd: REPO });
at('all tests passed');
