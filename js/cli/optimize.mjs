// `farm optimize images [DIR]`: lossless PNG optimization (native, oxipng, in parallel, cached by
// content hash), on its own, outside a build.
import { createRequire } from 'node:module';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { projectDirs } from './analyze.mjs';
import { out, err, fmtBytes, fmtMs, table, defineCommand } from './util.mjs';

const native = createRequire(import.meta.url)('../../index.js');

/** `farm optimize`'s flags: the parser and the help are made from this one table. */
export const OPTIMIZE = defineCommand({
  usage: 'farm optimize images [DIR] [options]',
  description: `Losslessly optimizes the PNG images under DIR (default: the built frontend, <outputDir>/web) in
place: recompressed with oxipng, pixels unchanged, files processed in parallel. A file that would
not get smaller is left as it is. Results are cached by content hash in <cacheDir>/images.
JPEG, WebP, GIF and AVIF files are listed as unsupported and never touched.`,
  positionals: true,
  options: [
    { name: 'level', type: 'string', arg: 'N', help: '0 (fastest) to 6 (smallest); default 2' },
    { name: 'keep-metadata', help: 'Keep text/EXIF/time chunks (colour chunks are always kept)' },
    { name: 'dry-run', help: 'Report what would be saved; change nothing' },
    { name: 'no-cache', help: 'Do not read or write the result cache' },
    { name: 'json', help: 'Print the report as JSON' },
    { name: 'root', type: 'string', arg: 'DIR', help: 'Project directory (default: the current directory)' },
  ],
});
export const OPTIMIZE_HELP = OPTIMIZE.help();

/** Runs `farm optimize ARGS`; resolves to the exit code. */
export async function optimize(args) {
  let parsed;
  try {
    parsed = OPTIMIZE.parse(args);
  } catch (e) {
    err(`farm optimize: ${e.message}\n`);
    err(OPTIMIZE_HELP);
    return 2;
  }
  const opts = parsed.values;
  if (opts.help) {
    out(OPTIMIZE_HELP);
    return 0;
  }
  const [what, dirArg, ...extra] = parsed.positionals;
  if (what !== 'images' || extra.length) {
    err(`farm optimize: expected \`farm optimize images [DIR]\`, got \`${parsed.positionals.join(' ')}\`\n`);
    err(OPTIMIZE_HELP);
    return 2;
  }
  const level = opts.level === undefined ? 2 : Number(opts.level);
  if (!Number.isInteger(level) || level < 0 || level > 6) {
    err(`farm optimize: --level ${opts.level}: expected a whole number from 0 to 6`);
    return 2;
  }
  const root = path.resolve(opts.root ?? process.cwd());
  let dirs;
  try {
    dirs = await projectDirs(root);
  } catch (e) {
    err(`✗ ${e.message}`);
    return 2;
  }
  const dir = dirArg ? path.resolve(dirArg) : dirs.webDir;
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    err(`farm optimize: ${dir} is not a directory${dirArg ? '' : '. Fix: run `farm build` first, or pass DIR'}`);
    return 2;
  }
  let report;
  try {
    report = await native.optimizeImages(dir, {
      level,
      stripMetadata: !opts['keep-metadata'],
      dryRun: Boolean(opts['dry-run']),
      cacheDir: opts['no-cache'] ? undefined : path.join(dirs.cacheDir, 'images'),
    });
  } catch (e) {
    err(`farm optimize: ${e.message}`);
    return 1;
  }
  if (opts.json) {
    out(JSON.stringify(report, null, 2));
  } else {
    printImageReport(report, dir, Boolean(opts['dry-run']));
  }
  return report.files.some((f) => f.status === 'failed') ? 1 : 0;
}

/** A table of the images (biggest saving first) and the total. */
export function printImageReport(r, dir, dryRun = false) {
  if (!r.files.length) {
    out(`no images under ${dir}`);
    return;
  }
  const pct = (f) => (f.originalBytes ? `-${((f.savedBytes * 100) / f.originalBytes).toFixed(1)}%` : '');
  table(
    ['image', 'before', 'after', 'saved', 'status'],
    r.files.map((f) => [f.path, fmtBytes(f.originalBytes), fmtBytes(f.optimizedBytes), f.savedBytes ? `${fmtBytes(f.savedBytes)} (${pct(f)})` : '-', `${f.status}${f.cached ? ' (cached)' : ''}${f.error ? `: ${f.error}` : ''}`]),
  );
  const total = r.originalBytes ? ((r.savedBytes * 100) / r.originalBytes).toFixed(1) : '0.0';
  out(`${dryRun ? 'would save' : 'saved'} ${fmtBytes(r.savedBytes)} of ${fmtBytes(r.originalBytes)} (${total}%) in ${r.files.length} images · ${r.cacheHits} from cache · ${fmtMs(r.durationMs)}`);
}
