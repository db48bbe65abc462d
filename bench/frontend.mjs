#!/usr/bin/env node
// Frontend asset benchmarks (imported by bench/run.mjs; also runnable alone: `node bench/frontend.mjs`).
//
// 1. Bundle analysis of 1,000 generated chunks: the native `analyzeBundle` (reads the files, gzip
//    level 6 + brotli quality 11 of each, on every core, with the host's own zlib/brotli) vs the same
//    in Node serially (readFileSync + zlib.gzipSync + zlib.brotliCompressSync). Both give the same
//    sizes (checked).
// 2. PNG optimization of generated unoptimized images: native `optimizeImages` (oxipng, lossless,
//    parallel, no cache) vs a naive Node optimizer doing the one obvious lossless step serially
//    (re-deflate the IDAT stream at level 9, keep it if smaller). Throughput and bytes saved are in
//    `note`.
//
// Each row: { name, farm_ms, peer_ms, ratio, note } with ratio = peer_ms / farm_ms (> 1: farm faster),
// medians of RUNS runs. Measure with the release addon (`npm run build`): a debug build makes oxipng
// (Rust) several times slower; the analysis row calls Node's own C codecs either way.
import { createRequire } from 'node:module';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, readdirSync, rmSync, cpSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { pathToFileURL } from 'node:url';

const native = createRequire(import.meta.url)('../index.js');
const RUNS = Number(process.env.FARM_BENCH_RUNS ?? 3);
const CHUNKS = 1000;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A deterministic pseudo-random generator (mulberry32). */
function rng(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 1,000 minified-looking chunks of 1–5 KB (a lazy route each), like Vite writes them. */
export function generateChunks(dir) {
  const r = rng(42);
  const ident = () => String.fromCharCode(97 + Math.floor(r() * 26)) + Math.floor(r() * 1000).toString(36);
  const words = ['useState', 'useEffect', 'jsx', 'jsxs', 'className', 'children', 'fetch', 'then', 'return', 'props', 'map', 'filter', 'length', 'button', 'div', 'span'];
  mkdirSync(path.join(dir, 'assets'), { recursive: true });
  for (let i = 0; i < CHUNKS; i++) {
    let code = `import{j as e,r as t}from"./index-AbCd1234.js";`;
    const target = 1000 + Math.floor(r() * 4000);
    while (code.length < target) {
      const w = words[Math.floor(r() * words.length)];
      code += `function ${ident()}(${ident()}){const[${ident()},${ident()}]=t.${w}(${Math.floor(r() * 100)});return e.jsx("div",{className:"route-${i}-${ident()}",children:${JSON.stringify(`Route ${i} ${ident()}`)}})}`;
    }
    code += `export{${ident()} as default};`;
    writeFileSync(path.join(dir, 'assets', `Route${i}-${i.toString(36).padStart(8, 'x')}.js`), code);
  }
}

/** An unoptimized RGBA PNG: stored (level 0) deflate, no filters. */
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
    const head = Buffer.alloc(4);
    head.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const tail = Buffer.alloc(4);
    tail.writeUInt32BE(crc(td));
    return Buffer.concat([head, td, tail]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  const raw = Buffer.alloc(h * (w * 4 + 1));
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.set(pixel(x, y), y * (w * 4 + 1) + 1 + x * 4);
  return Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw, { level: 0 })), chunk('IEND', Buffer.alloc(0))]);
}

export function generateImages(dir, n = 16) {
  mkdirSync(dir, { recursive: true });
  const r = rng(7);
  for (let i = 0; i < n; i++) {
    const kind = i % 4;
    const png = rawPng(256, 256, (x, y) => {
      if (kind === 0) return [x, y, (x + y + i) & 255, 255]; // gradient
      if (kind === 1) return [((x >> 4) + (y >> 4)) % 2 ? 240 : 20, 60, 90, 255]; // checker, few colours
      if (kind === 2) return [(x * y) & 255, (x ^ y) & 255, i * 10, x < 32 ? 0 : 255]; // pattern + alpha
      return [Math.floor(r() * 256), Math.floor(r() * 256), 128, 255]; // noise: little to gain
    });
    writeFileSync(path.join(dir, `img-${i}.png`), png);
  }
}

/** The naive peer: re-deflate each PNG's IDAT at level 9, serially; keep the result if smaller. */
function naivePngOptimize(dir) {
  let saved = 0;
  for (const f of readdirSync(dir)) {
    const buf = readFileSync(path.join(dir, f));
    const parts = [];
    const idat = [];
    let off = 8;
    while (off < buf.length) {
      const len = buf.readUInt32BE(off);
      const type = buf.toString('latin1', off + 4, off + 8);
      if (type === 'IDAT') idat.push(buf.subarray(off + 8, off + 8 + len));
      else parts.push({ type, whole: buf.subarray(off, off + 12 + len) });
      off += 12 + len;
    }
    const data = zlib.deflateSync(zlib.inflateSync(Buffer.concat(idat)), { level: 9 });
    const head = Buffer.alloc(4);
    head.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from('IDAT', 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(td));
    const out = Buffer.concat([buf.subarray(0, 8), parts[0].whole, head, td, crc, ...parts.slice(1).map((p) => p.whole)]);
    if (out.length < buf.length) {
      writeFileSync(path.join(dir, f), out);
      saved += buf.length - out.length;
    }
  }
  return saved;
}

async function benchAnalysis() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'farm-bench-chunks-'));
  try {
    generateChunks(dir);
    const files = readdirSync(path.join(dir, 'assets')).map((f) => path.join(dir, 'assets', f));
    const bytes = files.reduce((s, f) => s + readFileSync(f).length, 0);
    const farm = [];
    const peer = [];
    let nativeTotals;
    let nodeTotals;
    for (let i = 0; i < RUNS; i++) {
      let t = performance.now();
      const a = await native.analyzeBundle(dir, []);
      farm.push(performance.now() - t);
      nativeTotals = a.totals;
      t = performance.now();
      let gzip = 0;
      let brotli = 0;
      for (const f of files) {
        const b = readFileSync(f);
        gzip += zlib.gzipSync(b).length;
        brotli += zlib.brotliCompressSync(b).length;
      }
      peer.push(performance.now() - t);
      nodeTotals = { gzip, brotli };
    }
    const same = nativeTotals.gzip === nodeTotals.gzip && nativeTotals.brotli === nodeTotals.brotli;
    if (!same) throw new Error(`sizes differ: native ${JSON.stringify(nativeTotals)} vs node ${JSON.stringify(nodeTotals)}`);
    const f = median(farm);
    const p = median(peer);
    return {
      name: `bundle analysis: ${CHUNKS} chunks, gzip+brotli (native parallel vs Node zlib serial)`,
      farm_ms: Math.round(f),
      peer_ms: Math.round(p),
      ratio: +(p / f).toFixed(2),
      note: `${(bytes / 1e6).toFixed(2)} MB; identical totals (gzip ${nodeTotals.gzip} B, brotli ${nodeTotals.brotli} B); ${native.compressionInfo().gzip}`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchImages() {
  const base = mkdtempSync(path.join(os.tmpdir(), 'farm-bench-img-'));
  try {
    const src = path.join(base, 'src');
    generateImages(src);
    const bytes = readdirSync(src).reduce((s, f) => s + readFileSync(path.join(src, f)).length, 0);
    const farm = [];
    const peer = [];
    let farmSaved = 0;
    let peerSaved = 0;
    for (let i = 0; i < RUNS; i++) {
      const a = path.join(base, `farm-${i}`);
      const b = path.join(base, `peer-${i}`);
      cpSync(src, a, { recursive: true });
      cpSync(src, b, { recursive: true });
      let t = performance.now();
      const r = await native.optimizeImages(a, {});
      farm.push(performance.now() - t);
      farmSaved = r.savedBytes;
      t = performance.now();
      peerSaved = naivePngOptimize(b);
      peer.push(performance.now() - t);
    }
    const f = median(farm);
    const p = median(peer);
    const mbps = (ms) => ((bytes / 1e6) / (ms / 1000)).toFixed(1);
    return {
      name: `PNG optimization: ${readdirSync(src).length} images (oxipng parallel vs Node re-deflate serial)`,
      farm_ms: Math.round(f),
      peer_ms: Math.round(p),
      ratio: +(p / f).toFixed(2),
      note: `${(bytes / 1e6).toFixed(2)} MB in; farm ${mbps(f)} MB/s saved ${((farmSaved * 100) / bytes).toFixed(1)}%, peer ${mbps(p)} MB/s saved ${((peerSaved * 100) / bytes).toFixed(1)}%`,
    };
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

/** Runs both benchmarks; resolves to rows `{ name, farm_ms, peer_ms, ratio, note }`. */
export async function run() {
  return [await benchAnalysis(), await benchImages()];
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const rows = await run();
  for (const r of rows) {
    console.log(`${r.name}\n  farm ${r.farm_ms} ms · peer ${r.peer_ms} ms · ratio ${r.ratio}× · ${r.note}`);
  }
}
