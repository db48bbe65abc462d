// The frontend builder beyond Vite itself: bundle analysis (sizes equal Node's zlib), budgets,
// lossless image optimization, the farm() plugin on its own, and `farm build --watch`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, readFileSync, writeFileSync, mkdtempSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { FARM, REPO, EXAMPLE, copyExample, walk, processesMatching, processesIn, sleep } from './helpers.mjs';

const native = createRequire(import.meta.url)('../index.js');
/** A copy of the example app with a frontend-only config (no backend task before the Vite build). */
function frontendOnly(frontend = "{ root: 'apps/web' }") {
  const dir = copyExample();
  writeFileSync(path.join(dir, 'farm.config.ts'), `export default { appName: 'farm-app', version: '1.0.0', frontend: ${frontend} };\n`);
  return dir;
}

const farm = (cwd, ...args) => spawnSync(process.execPath, [FARM, ...args], { cwd, encoding: 'utf8', timeout: 180_000 });

/** Decodes a (non-interlaced) PNG to 8-bit RGBA — enough to compare pixels before and after. */
function decodePng(buf) {
  assert.equal(buf.subarray(0, 8).toString('latin1'), '\x89PNG\r\n\x1a\n');
  let off = 8;
  let ihdr;
  let palette = null;
  let trns = null;
  const idat = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') ihdr = { w: data.readUInt32BE(0), h: data.readUInt32BE(4), depth: data[8], color: data[9], interlace: data[12] };
    else if (type === 'PLTE') palette = data;
    else if (type === 'tRNS') trns = data;
    else if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  assert.equal(ihdr.interlace, 0, 'interlaced PNGs are not handled by this test decoder');
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[ihdr.color];
  const bpp = Math.max(1, (channels * ihdr.depth) >> 3);
  const stride = Math.ceil((ihdr.w * channels * ihdr.depth) / 8);
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const rows = [];
  let prev = Buffer.alloc(stride);
  for (let y = 0; y < ihdr.h; y++) {
    const f = raw[y * (stride + 1)];
    const line = Buffer.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? line[i - bpp] : 0;
      const b = prev[i];
      const c = i >= bpp ? prev[i - bpp] : 0;
      const p = a + b - c;
      const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const pred = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][f];
      line[i] = (line[i] + pred) & 255;
    }
    rows.push(line);
    prev = line;
  }
  const sample = (line, idx) => {
    if (ihdr.depth === 16) return line.readUInt16BE(idx * 2);
    if (ihdr.depth === 8) return line[idx];
    const perByte = 8 / ihdr.depth;
    return (line[Math.floor(idx / perByte)] >> (8 - ihdr.depth * ((idx % perByte) + 1))) & ((1 << ihdr.depth) - 1);
  };
  const max = (1 << ihdr.depth) - 1;
  const to8 = (v) => (ihdr.depth === 16 ? v >> 8 : Math.round((v * 255) / max));
  const out = Buffer.alloc(ihdr.w * ihdr.h * 4);
  for (let y = 0; y < ihdr.h; y++) {
    for (let x = 0; x < ihdr.w; x++) {
      const s = (k) => sample(rows[y], x * channels + k);
      let px;
      if (ihdr.color === 3) {
        const i = s(0);
        px = [palette[i * 3], palette[i * 3 + 1], palette[i * 3 + 2], trns && i < trns.length ? trns[i] : 255];
      } else if (ihdr.color === 0) {
        const g = s(0);
        const transparent = trns && g === trns.readUInt16BE(0);
        px = [to8(g), to8(g), to8(g), transparent ? 0 : 255];
      } else if (ihdr.color === 2) {
        const transparent = trns && s(0) === trns.readUInt16BE(0) && s(1) === trns.readUInt16BE(2) && s(2) === trns.readUInt16BE(4);
        px = [to8(s(0)), to8(s(1)), to8(s(2)), transparent ? 0 : 255];
      } else if (ihdr.color === 4) px = [to8(s(0)), to8(s(0)), to8(s(0)), to8(s(1))];
      else px = [to8(s(0)), to8(s(1)), to8(s(2)), to8(s(3))];
      out.set(px, (y * ihdr.w + x) * 4);
    }
  }
  return { w: ihdr.w, h: ihdr.h, rgba: out };
}

/** An unoptimized RGBA PNG (stored deflate blocks, no filters), written by hand. */
function rawPng(w, h, pixel) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 255] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  const raw = Buffer.alloc(h * (w * 4 + 1));
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.set(pixel(x, y), y * (w * 4 + 1) + 1 + x * 4);
  return Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw, { level: 0 })), chunk('IEND', Buffer.alloc(0))]);
}

test('bundle analysis: every file with gzip/brotli sizes equal to Node zlib, chunks with their largest modules', () => {
  const dir = copyExample();
  const r = farm(dir, 'build', '--target', 'frontend', '--analyze');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const a = JSON.parse(readFileSync(path.join(dir, 'dist/analysis/bundle-analysis.json'), 'utf8'));
  assert.equal(a.compression.matchesNode, true, JSON.stringify(a.compression));
  const web = path.join(dir, 'dist/web');
  // every file on disk is analysed, with its size as written
  assert.deepEqual(a.files.map((f) => f.path).sort(), walk(web));
  for (const f of a.files) {
    const buf = readFileSync(path.join(web, f.path));
    assert.equal(f.raw, buf.length, f.path);
    assert.equal(f.gzip, zlib.gzipSync(buf).length, `${f.path} gzip`);
    assert.equal(f.brotli, zlib.brotliCompressSync(buf).length, `${f.path} brotli`);
  }
  const raws = a.files.map((f) => f.raw);
  assert.deepEqual(raws, [...raws].sort((x, y) => y - x), 'biggest first');
  const vendor = a.chunks.find((c) => c.name === 'react-vendor');
  assert.ok(vendor, JSON.stringify(a.chunks.map((c) => c.name)));
  assert.match(vendor.topModules[0].id, /^node_modules\/react-dom\//);
  assert.ok(vendor.moduleCount >= vendor.topModules.length && vendor.topModules.length > 0);
  const entry = a.chunks.find((c) => c.isEntry);
  assert.ok(entry.topModules.some((m) => m.id.startsWith('src/')), JSON.stringify(entry.topModules));
  // the artifact beside frontend-bundle, and the treemap of --analyze
  const m = JSON.parse(readFileSync(path.join(dir, 'dist/build-manifest.json'), 'utf8'));
  const art = m.artifacts.find((x) => x.type === 'bundle-analysis');
  assert.equal(art.path, 'dist/analysis/bundle-analysis.json');
  assert.equal(art.metadata.gzip, a.totals.gzip);
  assert.ok(m.artifacts.some((x) => x.type === 'frontend-bundle'));
  assert.match(readFileSync(path.join(dir, 'dist/analysis/bundle-treemap.html'), 'utf8'), /react-vendor/);
  assert.match(r.stdout, /assets\/react-vendor-\S+\.js\s+js\s+[\d.]+ KiB/);

  // `farm analyze bundle`: the same analysis as a table, biggest first
  const t = farm(dir, 'analyze', 'bundle');
  assert.equal(t.status, 0, t.stderr);
  const lines = t.stdout.split('\n').filter((l) => /^assets\/|^index\.html|^plugin-config/.test(l));
  assert.equal(lines.length, a.files.length);
  assert.match(lines[0], /react-vendor/);
  assert.match(t.stdout, /zlib .* level 6.*quality 11/);
  const j = farm(dir, 'analyze', 'bundle', '--json');
  assert.deepEqual(JSON.parse(j.stdout).files, a.files);
  // the PNG written by Vite was optimized losslessly in the bundle
  const hero = walk(web).find((f) => f.endsWith('.png'));
  const src = readFileSync(path.join(EXAMPLE, 'apps/web/src/assets/farm-hero.png'));
  const built = readFileSync(path.join(web, hero));
  assert.ok(built.length <= src.length);
  assert.deepEqual(decodePng(built), decodePng(src));
});

test('budgets: --size-limit and per-chunk budgets fail the build with a table naming the chunk', () => {
  const dir = frontendOnly();
  const r = farm(dir, 'build', '--size-limit', '20KB');
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /over the size budget \(gzip sizes\)/);
  assert.match(r.stderr, /react-vendor\s+assets\/react-vendor-\S+\.js\s+[\d.]+ KiB\s+20\.00 KiB\s+[\d.]+ KiB \(\d+%\)/);
  assert.ok(!existsSync(path.join(dir, 'dist/web')), 'no frontend output when over budget');
  assert.ok(!existsSync(path.join(dir, 'dist/analysis/bundle-analysis.json')), 'a failed task leaves no output of its own');
  assert.ok(existsSync(path.join(dir, '.farm/cache/analysis/bundle-analysis.json')), 'the rejected bundle\'s analysis is kept for `farm analyze bundle`');
  const shown = farm(dir, 'analyze', 'bundle');
  assert.equal(shown.status, 0, shown.stderr);
  assert.match(shown.stdout, /react-vendor/);

  const c = farm(frontendOnly("{ root: 'apps/web', budgets: { chunks: { 'router-vendor': '5KB' }, total: '1MB' } }"), 'build');
  assert.equal(c.status, 1, c.stdout + c.stderr);
  assert.match(c.stderr, /router-vendor\s+assets\/router-vendor-/);
  assert.doesNotMatch(c.stderr, /react-vendor\s+assets/);

  const t = farm(frontendOnly("{ root: 'apps/web', budgets: { total: '50KB', measure: 'brotli' } }"), 'build');
  assert.equal(t.status, 1, t.stdout + t.stderr);
  assert.match(t.stderr, /over the size budget \(brotli sizes\)/);
  assert.match(t.stderr, /total\s+\(all JS \+ CSS\)\s+[\d.]+ KiB\s+50\.00 KiB/);

  const ok = farm(frontendOnly("{ root: 'apps/web', budgets: { chunk: '100KB', total: '150KB', measure: 'gzip' } }"), 'build');
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);

  const bad = farm(frontendOnly("{ root: 'apps/web', budgets: { chunk: 'huge' } }"), 'build');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /frontend\.budgets\.chunk/);
});

test('farm optimize images: smaller or equal, identical pixels, cached, a file that would grow kept', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'farm-img-'));
  const src = readFileSync(path.join(EXAMPLE, 'apps/web/src/assets/farm-hero.png'));
  copyFileSync(path.join(EXAMPLE, 'apps/web/src/assets/farm-hero.png'), path.join(dir, 'hero.png'));
  const gradient = rawPng(64, 48, (x, y) => [x * 4, y * 5, (x + y) & 255, x < 4 ? 0 : 255]);
  writeFileSync(path.join(dir, 'gradient.png'), gradient);
  writeFileSync(path.join(dir, 'photo.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
  const r = farm(dir, 'optimize', 'images', dir, '--json');
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  for (const [name, before] of [['hero.png', src], ['gradient.png', gradient]]) {
    const after = readFileSync(path.join(dir, name));
    assert.ok(after.length <= before.length, `${name}: ${after.length} > ${before.length}`);
    assert.deepEqual(decodePng(after), decodePng(before), `${name}: pixels differ`);
    const f = rep.files.find((x) => x.path === name);
    assert.equal(f.originalBytes, before.length);
    assert.equal(f.optimizedBytes, after.length);
    assert.equal(f.savedBytes, before.length - after.length);
  }
  assert.ok(rep.files.find((x) => x.path === 'gradient.png').savedBytes > 0);
  assert.equal(rep.files.find((x) => x.path === 'photo.jpg').status, 'unsupported');
  assert.equal(rep.savedBytes, rep.files.reduce((s, f) => s + f.savedBytes, 0));
  // second run: the optimized files cannot shrink — kept byte for byte
  const snapshot = readFileSync(path.join(dir, 'gradient.png'));
  const again = JSON.parse(farm(dir, 'optimize', 'images', dir, '--json').stdout);
  assert.equal(again.savedBytes, 0);
  assert.deepEqual(readFileSync(path.join(dir, 'gradient.png')), snapshot);
  // the same original content again: served from the content-hash cache
  writeFileSync(path.join(dir, 'gradient.png'), gradient);
  const cached = JSON.parse(farm(dir, 'optimize', 'images', dir, '--json').stdout);
  assert.ok(cached.files.find((x) => x.path === 'gradient.png').cached);
  assert.deepEqual(readFileSync(path.join(dir, 'gradient.png')), snapshot);
  // human output: per file and total
  writeFileSync(path.join(dir, 'gradient.png'), gradient);
  const h = farm(dir, 'optimize', 'images', dir, '--dry-run');
  assert.match(h.stdout, /gradient\.png .*optimized/);
  assert.match(h.stdout, /would save [\d.]+ (KiB|B) of/);
  assert.deepEqual(readFileSync(path.join(dir, 'gradient.png')), gradient, '--dry-run changes nothing');
  assert.equal(farm(dir, 'optimize', 'images', path.join(dir, 'missing')).status, 2);
  assert.equal(farm(dir, 'optimize', 'pictures').status, 2);
});

test('the farm() plugin alone in a vite.config: plugin-config.json, optimized images, bundle-analysis.json', () => {
  const dir = copyExample();
  const web = path.join(dir, 'apps/web');
  writeFileSync(
    path.join(web, 'vite.config.mjs'),
    `import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { farm } from ${JSON.stringify(path.join(REPO, 'js/vite.mjs'))};
export default defineConfig({ plugins: [react(), farm({ version: '9.9.9', analyze: true })], build: { outDir: 'out' } });
`,
  );
  const vite = path.join(dir, 'node_modules/vite/bin/vite.js');
  const r = spawnSync(process.execPath, [vite, 'build', '--config', 'vite.config.mjs', '--logLevel', 'warn'], { cwd: web, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const out = path.join(web, 'out');
  assert.equal(JSON.parse(readFileSync(path.join(out, 'plugin-config.json'), 'utf8')).version, '9.9.9');
  const a = JSON.parse(readFileSync(path.join(web, 'bundle-analysis.json'), 'utf8'));
  assert.deepEqual(a.files.map((f) => f.path).sort(), walk(out));
  assert.ok(a.chunks.some((c) => c.isEntry && c.moduleCount > 0));
  const png = walk(out).find((f) => f.endsWith('.png'));
  const src = readFileSync(path.join(web, 'src/assets/farm-hero.png'));
  assert.ok(readFileSync(path.join(out, png)).length < src.length, 'the PNG is optimized');
});

test('native exports: compressionInfo, checkBudgets, analyzeBundle errors', async () => {
  assert.equal(native.compressionInfo().matchesNode, true);
  await assert.rejects(native.analyzeBundle(path.join(os.tmpdir(), 'farm-no-such-dir-xyz')), /ANALYSIS_ERROR: .*build the frontend first/);
  const analysis = {
    version: 1,
    compression: { gzip: 'g', brotli: 'b', matchesNode: true },
    files: [{ path: 'assets/app-AAAAAAAA.js', kind: 'js', raw: 3000, gzip: 2000, brotli: 1500 }],
    chunks: [],
    totals: { files: 1, raw: 3000, gzip: 2000, brotli: 1500 },
    codeTotals: { files: 1, raw: 3000, gzip: 2000, brotli: 1500 },
    durationMs: 1,
  };
  const over = native.checkBudgets(analysis, { chunks: { app: '1KB' }, measure: 'brotli' });
  assert.deepEqual(over.violations, [{ name: 'app', file: 'assets/app-AAAAAAAA.js', size: 1500, limit: 1024 }]);
  assert.match(over.table, /app .*1\.46 KiB\s+1\.00 KiB/);
  assert.deepEqual(native.checkBudgets(analysis, { chunk: '2KB' }).violations, []);
  assert.throws(() => native.checkBudgets(analysis, { chunk: 'x' }), /budgets\.chunk/);
});

test('farm build --watch: one rebuild per edit with the change in the output; it serves the daemon meanwhile; SIGINT exits 0, no process left', async () => {
  const dir = frontendOnly();
  const env = { ...process.env };
  delete env.FARM_NO_DAEMON;
  const child = spawn(process.execPath, [FARM, 'build', '--watch'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const daemonStatus = () => spawnSync(process.execPath, [FARM, 'daemon', 'status', '--json'], { cwd: dir, env, encoding: 'utf8' });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const until = async (re, ms) => {
    const end = Date.now() + ms;
    while (!re.test(out)) {
      if (child.exitCode !== null) assert.fail(`exited early:\n${out}`);
      if (Date.now() > end) assert.fail(`timed out waiting for ${re}:\n${out}`);
      await sleep(50);
    }
  };
  try {
    await until(/watching .*Ctrl-C to stop/, 150_000);
    assert.doesNotMatch(out, /rebuilt/);
    // Warm mode: the watching process serves the project's daemon, which answers a build run beside it.
    assert.match(out, /warm mode: this process serves the project's daemon/);
    const st = daemonStatus();
    assert.equal(st.status, 0, st.stdout + st.stderr);
    const before = JSON.parse(st.stdout);
    assert.equal(before.pid, child.pid, 'the daemon is the watching process');
    const beside = spawnSync(process.execPath, [FARM, 'build', '--json'], { cwd: dir, env, encoding: 'utf8' });
    assert.equal(beside.status, 0, beside.stdout + beside.stderr);
    const caches = JSON.parse(beside.stdout).tasks.map((t) => t.cache);
    assert.ok(caches.length > 0 && caches.every((c) => c === 'hit'), JSON.stringify(caches));
    const after = JSON.parse(daemonStatus().stdout);
    assert.ok(after.builds > before.builds, `the build beside the watch asked the daemon: ${before.builds} → ${after.builds}`);
    const f = path.join(dir, 'apps/web/src/App.tsx');
    writeFileSync(f, readFileSync(f, 'utf8').replace('Loading chat…', 'Loading chat WATCH-MARKER-42…'));
    await until(/↻ frontend rebuilt/, 30_000);
    await sleep(1500);
    assert.equal(out.match(/↻ frontend rebuilt/g).length, 1, out);
    assert.match(out, /↻ frontend rebuilt in \d+(ms|\.\d+s) · src\/App\.tsx/);
    const web = path.join(dir, 'dist/web');
    const js = walk(web).filter((x) => x.endsWith('.js')).map((x) => readFileSync(path.join(web, x), 'utf8')).join('\n');
    assert.match(js, /WATCH-MARKER-42/);
    const a = JSON.parse(readFileSync(path.join(dir, 'dist/analysis/bundle-analysis.json'), 'utf8'));
    assert.deepEqual(a.files.map((x) => x.path).sort(), walk(web), 'the analysis follows the rebuild');
  } finally {
    const t0 = Date.now();
    child.kill('SIGINT');
    const code = await new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.on('exit', r)));
    assert.equal(code, 0, out);
    assert.ok(Date.now() - t0 < 5000, `stopped in ${Date.now() - t0} ms`);
  }
  await sleep(300);
  assert.deepEqual([...processesMatching(dir), ...processesIn(dir)], [], 'no process left');
  assert.equal(daemonStatus().status, 1, 'the daemon stopped with the watch');
});
