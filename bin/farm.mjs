#!/usr/bin/env node
// The `farm` CLI. Exit codes: 0 success, 1 build failed (or cancelled), 2 usage or config error.
import { version } from '../js/index.mjs';
import { build } from '../js/cli/build.mjs';
import { cache } from '../js/cli/cache.mjs';
import { typegen } from '../js/cli/typegen.mjs';
import { out, err } from '../js/cli/util.mjs';
import { analyze } from '../js/cli/analyze.mjs';
import { optimize } from '../js/cli/optimize.mjs';

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
    out(version());
    return 0;
  }
  if (cmd === 'build') return build(rest);
  if (cmd === 'cache') return cache(rest);
  if (cmd === 'typegen') return typegen(rest);
  if (cmd === 'analyze') return analyze(rest);
  if (cmd === 'optimize') return optimize(rest);
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
