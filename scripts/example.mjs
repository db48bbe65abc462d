// The main job: from a fresh clone, build examples/farm-app with `farm build` and print its summary.
import { setup, run, EXAMPLE } from './setup.mjs';

// The main job runs a release build (`npm ci`'s `prepare` makes the debug one the tests use).
setup('release');
run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build'], { cwd: EXAMPLE });
