// `farm()`: the FARM Vite plugin, usable in any vite.config (with or without `farm build`).
// - emits `plugin-config.json`: the enabled FARM plugins, the app's version and build info;
// - after Vite wrote the bundle, optimizes its PNGs losslessly (native, oxipng, cached by content);
// - hands each chunk's modules (id, rendered length) to the native bundle analysis: `farm build`
//   receives them through `onBundle`; alone, `analyze: true` writes `bundle-analysis.json` itself.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

let binding;
/** The native addon, loaded on first use (so `@farm/build-native/vite` stays light). */
function native() {
  binding ??= createRequire(import.meta.url)('../index.js');
  return binding;
}

/** A module id as shown in the analysis: `node_modules/…`, root-relative, or `virtual:…`. */
export function moduleLabel(id, root) {
  if (id.startsWith('\0')) return `virtual:${id.slice(1)}`;
  const nm = id.lastIndexOf('/node_modules/');
  if (nm >= 0) return id.slice(nm + 1);
  const rel = root ? path.relative(root, id) : id;
  return rel.split(path.sep).join('/');
}

/** The chunks of a Rollup/Rolldown bundle as plain data for the native analysis. */
export function chunkInfo(bundle, root) {
  return Object.values(bundle)
    .filter((f) => f.type === 'chunk')
    .map((c) => ({
      fileName: c.fileName,
      name: c.name ?? null,
      isEntry: Boolean(c.isEntry),
      isDynamicEntry: Boolean(c.isDynamicEntry),
      imports: [...(c.imports ?? [])],
      dynamicImports: [...(c.dynamicImports ?? [])],
      modules: Object.entries(c.modules ?? {}).map(([id, m]) => ({ id: moduleLabel(id, root), renderedLength: m?.renderedLength ?? 0 })),
    }));
}

/**
 * @param {{ plugins?: Array<string | { name: string, options?: unknown }>, version?: string, buildId?: string,
 *           environment?: string, buildTimestamp?: string,
 *           images?: boolean | { level?: number, cacheDir?: string },
 *           analyze?: boolean | { file?: string },
 *           onBundle?: (info: { outDir: string, chunks: object[], images: object | null }) => void }} [options]
 * @returns {import('vite').Plugin}
 */
export function farm(options = {}) {
  let mode = 'production';
  let root = process.cwd();
  return {
    name: 'farm',
    apply: 'build',
    configResolved(cfg) {
      mode = cfg.mode;
      root = cfg.root;
    },
    generateBundle() {
      const config = {
        plugins: (options.plugins ?? []).map((p) => (typeof p === 'string' ? { name: p, options: {} } : { name: p.name, options: p.options ?? {} })),
        version: options.version ?? process.env.npm_package_version ?? '0.0.0',
        build: {
          id: options.buildId ?? null,
          environment: options.environment ?? mode,
          timestamp: options.buildTimestamp ?? new Date().toISOString(),
        },
      };
      this.emitFile({ type: 'asset', fileName: 'plugin-config.json', source: `${JSON.stringify(config, null, 2)}\n` });
    },
    // Runs after the files are on disk: images are optimized there, and sizes are measured later on
    // the final bytes (chunk code in generateBundle is not final yet).
    async writeBundle(out, bundle) {
      const outDir = out.dir ?? (out.file ? path.dirname(out.file) : null);
      if (!outDir) return;
      const chunks = chunkInfo(bundle, root);
      let images = null;
      if (options.images !== false) {
        const o = typeof options.images === 'object' ? options.images : {};
        try {
          images = await native().optimizeImages(outDir, {
            level: o.level,
            cacheDir: o.cacheDir ?? path.join(root, 'node_modules', '.farm', 'images'),
          });
        } catch (e) {
          this.warn(`image optimization skipped: ${e?.message ?? e}`);
        }
      }
      if (options.analyze) {
        const file = (typeof options.analyze === 'object' && options.analyze.file) || path.join(path.dirname(outDir), 'bundle-analysis.json');
        const analysis = await native().analyzeBundle(outDir, chunks);
        writeFileSync(file, `${JSON.stringify(analysis, null, 2)}\n`);
      }
      options.onBundle?.({ outDir, chunks, images });
    },
  };
}

export default farm;
