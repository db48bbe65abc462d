// The main job: from a fresh clone, build examples/farm-app with `farm build` and print its summary.
import { setup, run, EXAMPLE } from './setup.mjs';

setup();
run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build'], { cwd: EXAMPLE });
