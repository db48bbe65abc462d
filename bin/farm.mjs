#!/usr/bin/env node
// The `farm` CLI. Exit codes: 0 success, 1 build failed (or cancelled), 2 usage or config error.
// `farm build` goes to the native executable first (it answers an all-cached build without this
// Node process doing the work, and hands anything else back); every command runs in js/cli/main.mjs.
import { handOff } from '../js/cli/native.mjs';
import { runCli } from '../js/cli/main.mjs';

const argv = process.argv.slice(2);
const code = handOff(argv);
if (code === null) runCli(argv);
else process.exitCode = code;
