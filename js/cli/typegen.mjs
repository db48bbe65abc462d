// `farm typegen <openapi.json> [-o out.ts]`: native OpenAPI 3.0/3.1 → TypeScript (the format of
// openapi-typescript 7), the same generator the `types` task uses.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

// The raw binding is enough here (no Vite runner or config loader to load).
const { generateTypes } = createRequire(import.meta.url)('../../index.js');
import { out, err, defineCommand } from './util.mjs';

/** `farm typegen`'s flags: the parser and the help are made from this one table. */
export const TYPEGEN = defineCommand({
  usage: 'farm typegen <openapi.json> [-o out.ts]',
  description: `Generates TypeScript types (paths, components, operations) from an OpenAPI 3.0/3.1 JSON document.
Without -o the types go to stdout.`,
  positionals: true,
  options: [{ name: 'output', short: 'o', type: 'string', arg: 'FILE', help: 'Write the types to FILE' }],
});
export const TYPEGEN_HELP = TYPEGEN.help();

/** Runs `farm typegen ARGS`; resolves to the exit code. */
export async function typegen(args) {
  let parsed;
  try {
    parsed = TYPEGEN.parse(args);
  } catch (e) {
    err(`farm typegen: ${e.message}\n\n${TYPEGEN_HELP}`);
    return 2;
  }
  const { values: o, positionals } = parsed;
  if (o.help) return out(TYPEGEN_HELP), 0;
  if (positionals.length !== 1) {
    err(TYPEGEN_HELP);
    return 2;
  }
  let doc;
  try {
    doc = JSON.parse(readFileSync(positionals[0], 'utf8'));
  } catch (e) {
    err(`✗ ${positionals[0]}: ${e.message}`);
    return 2;
  }
  let ts;
  try {
    ts = generateTypes(doc);
  } catch (e) {
    err(`✗ ${positionals[0]}: ${e.message}`);
    return 1;
  }
  if (o.output) {
    mkdirSync(path.dirname(path.resolve(o.output)), { recursive: true });
    writeFileSync(o.output, ts);
  } else process.stdout.write(ts);
  return 0;
}
