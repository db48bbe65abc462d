// The `farm` CLI (the JavaScript path). Exit codes: 0 success, 1 build failed (or cancelled), 2 usage
// or config error. `bin/farm.mjs` runs it after offering `farm build` to the native executable.
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { out, err } from './util.mjs';

// Each command: its usage line, what it does, and its module, loaded only when it runs (start-up
// stays small). The help below is made from this table.
const COMMANDS = {
  init: {
    usage: 'farm init [--force]',
    summary: 'Write farm.config.ts for an existing repository from its layout',
    run: async () => (await import('./init.mjs')).init,
  },
  build: {
    usage: 'farm build [options]',
    summary: 'Build the project in the current directory',
    run: async () => (await import('./build.mjs')).build,
  },
  cache: {
    usage: 'farm cache status|clean|why <task>|diff <a.json> <b.json>',
    summary: 'Inspect, trim or explain the build cache; compare two dry runs',
    run: async () => (await import('./cache.mjs')).cache,
  },
  daemon: {
    usage: 'farm daemon start|stop|status',
    summary: 'Warm mode: a background process that keeps the input walks in memory',
    run: async () => (await import('./daemon.mjs')).daemon,
  },
  typegen: {
    usage: 'farm typegen <openapi.json> [-o out.ts]',
    summary: 'OpenAPI 3.0/3.1 → TypeScript (openapi-typescript 7 format)',
    run: async () => (await import('./typegen.mjs')).typegen,
  },
  analyze: {
    usage: 'farm analyze bundle',
    summary: 'Print the last bundle analysis (sizes raw/gzip/brotli, biggest first)',
    run: async () => (await import('./analyze.mjs')).analyze,
  },
  optimize: {
    usage: 'farm optimize images [DIR]',
    summary: 'Losslessly optimize the PNGs under DIR (default: the built frontend)',
    run: async () => (await import('./optimize.mjs')).optimize,
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

/** Runs the command in `argv` (the arguments after `farm`); resolves to its exit code. */
export async function main(argv) {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    out(help());
    return cmd ? 0 : 2;
  }
  if (cmd === '-v' || cmd === '--version') {
    out(createRequire(import.meta.url)('../../index.js').version());
    return 0;
  }
  if (Object.hasOwn(COMMANDS, cmd)) return (await COMMANDS[cmd].run())(rest);
  err(`farm: unknown command \`${cmd}\`\n`);
  err(help());
  return 2;
}

/** Runs `argv` and sets the process's exit code. */
export function runCli(argv) {
  return main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      err(`farm: internal error: ${e?.stack ?? e}`);
      process.exitCode = 1;
    },
  );
}

// Run as a script: the native `farm` executable hands the commands it does not answer to this file.
const self = () => {
  try {
    return realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
};
if (process.argv[1] && self()) runCli(process.argv.slice(2));
