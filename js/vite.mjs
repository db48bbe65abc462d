// `farm()`: the FARM Vite plugin, usable in any vite.config (with or without `farm build`).
// It emits `plugin-config.json`: the enabled FARM plugins, the app's version and build info.

/**
 * @param {{ plugins?: Array<{ name: string, options?: unknown }>, version?: string, buildId?: string,
 *           environment?: string, buildTimestamp?: string }} [options]
 * @returns {import('vite').Plugin}
 */
export function farm(options = {}) {
  let mode = 'production';
  return {
    name: 'farm',
    apply: 'build',
    configResolved(cfg) {
      mode = cfg.mode;
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
  };
}

export default farm;
