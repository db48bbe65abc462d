// `farm analyze bundle`: prints the last bundle analysis (bundle-analysis.json) as a table, biggest
// first; also the helpers `farm build --analyze` uses (summary table, treemap HTML).
import { createRequire } from 'node:module';
import { statSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config.mjs';
import { out, err, fmtBytes, table, defineCommand } from './util.mjs';

const native = createRequire(import.meta.url)('../../index.js');

/** `farm analyze`'s flags: the parser and the help are made from this one table. */
export const ANALYZE = defineCommand({
  usage: 'farm analyze bundle [options]',
  description: `Prints the last bundle analysis (<outputDir>/analysis/bundle-analysis.json, written by \`farm build\`):
every output file with its raw, gzip and brotli size, biggest first, then each JavaScript chunk
with its largest modules.`,
  positionals: true,
  options: [
    { name: 'file', type: 'string', arg: 'PATH', help: 'Read this analysis file instead' },
    { name: 'top', type: 'string', arg: 'N', help: 'Modules shown per chunk (default 3; 0 hides them)' },
    { name: 'size-limit', type: 'string', arg: 'SIZE', help: 'Exit 1 with a table if a chunk is over SIZE (gzip), e.g. 150KB' },
    { name: 'treemap', type: 'string', arg: 'PATH', help: 'Also write a treemap HTML page' },
    { name: 'json', help: 'Print the analysis as JSON' },
    { name: 'root', type: 'string', arg: 'DIR', help: 'Project directory (default: the current directory)' },
  ],
});
export const ANALYZE_HELP = ANALYZE.help();

/**
 * `<root>/<outputDir>` (and the web and cache dirs) from the project's config, validated with its
 * defaults; without a config file, the defaults (`dist`, `dist/web`, `.farm/cache`). A broken config throws.
 */
export async function projectDirs(root) {
  const fallback = () => {
    const outputDir = path.join(root, 'dist');
    return { config: null, outputDir, webDir: path.join(outputDir, 'web'), cacheDir: path.join(root, '.farm', 'cache') };
  };
  const candidates = ['farm.config.ts', 'farm.config.mts', 'farm.config.mjs', 'farm.config.js', 'farm.config.json'];
  if (!candidates.some((c) => existsSync(path.join(root, c)))) return fallback();
  const { config, configFile } = await loadConfig(root);
  const cfg = native.validateConfig(config, configFile);
  const outputDir = path.join(root, cfg.outputDir);
  return {
    config: cfg,
    outputDir,
    webDir: path.join(outputDir, cfg.frontend?.outDir ?? 'web'),
    cacheDir: path.join(root, cfg.cacheDir),
  };
}

/** Runs `farm analyze ARGS`; resolves to the exit code. */
export async function analyze(args) {
  let parsed;
  try {
    parsed = ANALYZE.parse(args);
  } catch (e) {
    err(`farm analyze: ${e.message}\n`);
    err(ANALYZE_HELP);
    return 2;
  }
  const opts = parsed.values;
  if (opts.help) {
    out(ANALYZE_HELP);
    return 0;
  }
  const [what, ...extra] = parsed.positionals;
  if (what !== 'bundle' || extra.length) {
    err(`farm analyze: expected \`farm analyze bundle\`, got \`${parsed.positionals.join(' ')}\`\n`);
    err(ANALYZE_HELP);
    return 2;
  }
  const top = opts.top === undefined ? 3 : Number(opts.top);
  if (!Number.isInteger(top) || top < 0) {
    err(`farm analyze: --top ${opts.top}: expected a whole number ≥ 0`);
    return 2;
  }
  const root = path.resolve(opts.root ?? process.cwd());
  let file = opts.file ? path.resolve(opts.file) : null;
  if (!file) {
    try {
      const dirs = await projectDirs(root);
      file = path.join(dirs.outputDir, 'analysis', 'bundle-analysis.json');
      // A build that failed its budgets leaves its outputs as they were and keeps the analysis of
      // the rejected bundle in the cache dir: show whichever is newer.
      const failed = path.join(dirs.cacheDir, 'analysis', 'bundle-analysis.json');
      if (existsSync(failed) && (!existsSync(file) || statSync(failed).mtimeMs > statSync(file).mtimeMs)) file = failed;
    } catch (e) {
      err(`✗ ${e.message}`);
      return 2;
    }
  }
  if (!existsSync(file)) {
    err(`farm analyze: ${path.relative(process.cwd(), file) || file} does not exist. Fix: run \`farm build\` first`);
    return 1;
  }
  let analysis;
  try {
    analysis = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    err(`farm analyze: ${file}: ${e.message}`);
    return 1;
  }
  if (opts.json) out(JSON.stringify(analysis, null, 2));
  else printAnalysis(analysis, { top });
  if (opts.treemap) {
    writeTreemap(analysis, path.resolve(opts.treemap));
    if (!opts.json) out(`treemap: ${opts.treemap}`);
  }
  if (opts['size-limit']) {
    let r;
    try {
      r = native.checkBudgets(analysis, { chunk: opts['size-limit'] });
    } catch (e) {
      err(`farm analyze: --size-limit ${opts['size-limit']}: ${e.message}`);
      return 2;
    }
    if (r.violations.length) {
      err(`\n✗ ${r.table}`);
      return 1;
    }
  }
  return 0;
}

/** Prints the files table (biggest first), the chunks with their largest modules, and totals. */
export function printAnalysis(a, { top = 3 } = {}) {
  const files = [...a.files].sort((x, y) => y.raw - x.raw || x.path.localeCompare(y.path));
  const chunkOf = new Map(a.chunks.map((c) => [c.fileName, c]));
  const rows = files.map((f) => {
    const c = chunkOf.get(f.path);
    const mark = c ? (c.isEntry ? ' (entry)' : c.isDynamicEntry ? ' (lazy)' : '') : '';
    return [`${f.path}${mark}`, f.kind, fmtBytes(f.raw), f.kind === 'sourcemap' ? '-' : fmtBytes(f.gzip), f.kind === 'sourcemap' ? '-' : fmtBytes(f.brotli)];
  });
  table(['file', 'kind', 'raw', 'gzip', 'brotli'], rows);
  const t = a.totals;
  out(`total: ${t.files} files · ${fmtBytes(t.raw)} raw · ${fmtBytes(t.gzip)} gzip · ${fmtBytes(t.brotli)} brotli (JS + CSS: ${fmtBytes(a.codeTotals.gzip)} gzip)`);
  if (top > 0) {
    const withModules = a.chunks.filter((c) => c.topModules.length);
    if (withModules.length) {
      out('');
      out('largest modules per chunk (rendered size, before minification of the chunk):');
      for (const c of withModules) {
        out(`  ${c.name} · ${c.fileName} · ${c.moduleCount} modules`);
        for (const m of c.topModules.slice(0, top)) out(`    ${fmtBytes(m.renderedLength).padStart(10)}  ${m.id}`);
      }
    }
  }
  out(`sizes: ${a.compression.gzip}; ${a.compression.brotli}`);
}

/**
 * Writes a self-contained treemap page of `analysis`: one rectangle per output file (area = size,
 * switchable between raw, gzip and brotli), JavaScript chunks split into their largest modules.
 */
export function writeTreemap(analysis, file) {
  const data = JSON.stringify(analysis).replace(/</g, '\\u003c');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bundle treemap</title>
<style>
body{margin:0;font:13px system-ui,sans-serif;background:#111;color:#eee}
header{padding:8px 12px;display:flex;gap:16px;align-items:center}
#map{position:relative;height:calc(100vh - 44px);margin:0 12px 12px}
.n{position:absolute;box-sizing:border-box;border:1px solid #111;overflow:hidden;padding:2px 4px;white-space:nowrap;text-overflow:ellipsis}
.n small{opacity:.75}
</style></head><body>
<header><strong>Bundle treemap</strong>
<label><input type="radio" name="m" value="raw">raw</label>
<label><input type="radio" name="m" value="gzip" checked>gzip</label>
<label><input type="radio" name="m" value="brotli">brotli</label>
<span id="total"></span></header>
<div id="map"></div>
<script>
const A = ${data};
const COLORS = { js: '#3b6ea8', css: '#7a4fa0', html: '#a0704f', image: '#4f9a6a', font: '#8a8a3a', json: '#5a8a8a', other: '#666' };
const fmt = (n) => n >= 1048576 ? (n / 1048576).toFixed(2) + ' MiB' : n >= 1024 ? (n / 1024).toFixed(1) + ' KiB' : n + ' B';
function tree(metric) {
  const chunks = new Map(A.chunks.map((c) => [c.fileName, c]));
  return A.files.filter((f) => f.kind !== 'sourcemap' && f[metric] > 0).map((f) => {
    const c = chunks.get(f.path);
    const node = { name: f.path, size: f[metric], kind: f.kind, label: f.path + ' · ' + fmt(f[metric]) };
    if (c && c.topModules.length) {
      const rendered = c.topModules.reduce((s, m) => s + m.renderedLength, 0);
      const all = Math.max(rendered, c.topModules.length ? rendered : 1);
      // modules share the file's size in proportion to their rendered length
      node.children = c.topModules.map((m) => ({ name: m.id, size: f[metric] * m.renderedLength / all * 0.999, kind: 'js', label: m.id + ' · ' + fmt(m.renderedLength) + ' rendered' }));
    }
    return node;
  });
}
function squarify(items, x, y, w, h, out) {
  items = items.filter((i) => i.size > 0).sort((a, b) => b.size - a.size);
  let total = items.reduce((s, i) => s + i.size, 0);
  while (items.length) {
    const short = Math.min(w, h), scale = (w * h) / total;
    let row = [], rowSum = 0, worst = Infinity;
    for (const it of items) {
      const s = rowSum + it.size, sq = (s * scale) / short;
      const mx = Math.max(...row.map((r) => r.size), it.size) * scale, mn = Math.min(...row.map((r) => r.size), it.size) * scale;
      const wr = Math.max((sq * sq) / mn, mx / (sq * sq));
      if (row.length && wr > worst) break;
      row.push(it); rowSum = s; worst = wr;
    }
    const thick = (rowSum * scale) / short;
    let off = 0;
    for (const it of row) {
      const len = (it.size * scale) / thick;
      const r = w >= h ? { x, y: y + off, w: thick, h: len } : { x: x + off, y, w: len, h: thick };
      out.push({ ...it, ...r });
      off += len;
    }
    if (w >= h) { x += thick; w -= thick; } else { y += thick; h -= thick; }
    items = items.slice(row.length); total -= rowSum;
  }
  return out;
}
function draw() {
  const metric = document.querySelector('input[name=m]:checked').value;
  const map = document.getElementById('map');
  map.innerHTML = '';
  const W = map.clientWidth, H = map.clientHeight;
  const nodes = tree(metric);
  document.getElementById('total').textContent = 'total ' + fmt(nodes.reduce((s, n) => s + n.size, 0)) + ' (' + metric + ')';
  const put = (n, depth) => {
    const d = document.createElement('div');
    d.className = 'n';
    Object.assign(d.style, { left: n.x + 'px', top: n.y + 'px', width: n.w + 'px', height: n.h + 'px', background: COLORS[n.kind] || '#666', filter: depth ? 'brightness(1.25)' : '' });
    d.title = n.label;
    d.innerHTML = n.w > 60 && n.h > 14 ? '<small></small>' : '';
    if (d.firstChild) d.firstChild.textContent = n.label;
    map.appendChild(d);
    if (n.children && n.w > 40 && n.h > 40) squarify(n.children, n.x + 2, n.y + 16, n.w - 4, n.h - 18, []).forEach((c) => put(c, depth + 1));
  };
  squarify(nodes, 0, 0, W, H, []).forEach((n) => put(n, 0));
}
document.querySelectorAll('input[name=m]').forEach((i) => i.addEventListener('change', draw));
addEventListener('resize', draw);
draw();
</script></body></html>
`;
  writeFileSync(file, html);
}
