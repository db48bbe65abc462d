// All tests: Rust unit tests, then the node:test suites (JS surface and end to end on the example).
import { setup, run, REPO } from './setup.mjs';

run('cargo', ['test', '--quiet'], { cwd: REPO });
setup();
run(process.execPath, ['--test', '--test-concurrency=1', '__test__/'], { cwd: REPO });
