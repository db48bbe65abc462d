#!/usr/bin/env node
// The `farm` CLI. Exit codes: 0 success, 1 build failed (or cancelled), 2 usage or config error.
import { createRequire } from 'node:module';
import { out, err } from '../js/cli/util.mjs';

// Each command's module is loaded only when it runs: start-up stays small.
const COMMANDS = {
  build: async () => (await import('../js/cli/build.mjs')).build,
  cache: async () => (await import('../js/cli/cache.mjs')).cache,
  typegen: async () => (await import('../js/cli/typegen.mjs')).typegen,
  analyze: async () => (await import('../js/cli/analyze.mjs')).analyze,
  optimize: async () => (await import('../js/cli/optimize.mjs')).optimize,
};

const HELP = `farm — the FARM build system (FastAPI + React/Vite + AI models)

Usage:
  farm build [options]     Build the project in the current directory
  farm cache status|clean|why <task>
                           Inspect, trim or explain the build cache
  farm typegen <openapi.json> [-o out.ts]
                           OpenAPI 3.0/3.1 → TypeScript (openapi-typescript 7 format)
  farm analyze bundle      Print the last bundle analysis (sizes raw/gzip/brotli, biggest first)
  farm optimize images [DIR]
                           Losslessly optimize the PNGs under DIR (default: the built frontend)
  farm --help              Show this help
  farm --version           Show the version

Run \`farm build --help\` for the build options.
`;

async function main(argv) {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    out(HELP);
    return cmd ? 0 : 2;
  }
  if (cmd === '-v' || cmd === '--version') {
    out(createRequire(import.meta.url)('../index.js').version());
    return 0;
  }
  if (Object.hasOwn(COMMANDS, cmd)) return (await COMMANDS[cmd]())(rest);
  err(`farm: unknown command \`${cmd}\`\n`);
  err(HELP);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    err(`farm: internal error: ${e?.stack ?? e}`);
    process.exitCode = 1;
  },
);
