#!/usr/bin/env node
// The `farm` CLI. Exit codes: 0 success, 1 build failed (or cancelled), 2 usage or config error.
import { createRequire } from 'node:module';
import { out, err } from '../js/cli/util.mjs';

// Each command: its usage line, what it does, and its module, loaded only when it runs (start-up
// stays small). The help below is made from this table.
const COMMANDS = {
  init: {
    usage: 'farm init [--force]',
    summary: 'Write farm.config.ts for an existing repository from its layout',
    run: async () => (await import('../js/cli/init.mjs')).init,
  },
  build: {
    usage: 'farm build [options]',
    summary: 'Build the project in the current directory',
    run: async () => (await import('../js/cli/build.mjs')).build,
  },
  cache: {
    usage: 'farm cache status|clean|why <task>|diff <a.json> <b.json>',
    summary: 'Inspect, trim or explain the build cache; compare two dry runs',
    run: async () => (await import('../js/cli/cache.mjs')).cache,
  },
  daemon: {
    usage: 'farm daemon start|stop|status',
    summary: 'Warm mode: a background process that keeps the input walks in memory',
    run: async () => (await import('../js/cli/daemon.mjs')).daemon,
  },
  typegen: {
    usage: 'farm typegen <openapi.json> [-o out.ts]',
    summary: 'OpenAPI 3.0/3.1 → TypeScript (openapi-typescript 7 format)',
    run: async () => (await import('../js/cli/typegen.mjs')).typegen,
  },
  analyze: {
    usage: 'farm analyze bundle',
    summary: 'Print the last bundle analysis (sizes raw/gzip/brotli, biggest first)',
    run: async () => (await import('../js/cli/analyze.mjs')).analyze,
  },
  optimize: {
    usage: 'farm optimize images [DIR]',
    summary: 'Losslessly optimize the PNGs under DIR (default: the built frontend)',
    run: async () => (await import('../js/cli/optimize.mjs')).optimize,
  },
};

function help() {
  const rows = [
    ...Object.values(COMMANDS).map((c) => [c.usage, c.summary]),
    ['farm --help', 'Show this help'],
    ['farm --version', 'Show the version'],
  ];
  const lines = ['farm — the FARM build system (FastAPI + React/Vite + AI models)', '', 'Usage:'];
  for (const [usage, summary] of rows) {
    if (usage.length > 23) lines.push(`  ${usage}`, `${' '.repeat(27)}${summary}`);
    else lines.push(`  ${usage.padEnd(25)}${summary}`);
  }
  lines.push('', 'Run `farm <command> --help` for its options. New here? `npx farm init && npx farm build`.');
  return `${lines.join('\n')}\n`;
}

async function main(argv) {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    out(help());
    return cmd ? 0 : 2;
  }
  if (cmd === '-v' || cmd === '--version') {
    out(createRequire(import.meta.url)('../index.js').version());
    return 0;
  }
  if (Object.hasOwn(COMMANDS, cmd)) return (await COMMANDS[cmd].run())(rest);
  err(`farm: unknown command \`${cmd}\`\n`);
  err(help());
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
