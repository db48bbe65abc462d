// `farm init`: reads the layout of an existing repository (js/detect.mjs) and writes a commented
// farm.config.ts for it; prints what it found and what it could not decide.
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { scanProject } from '../detect.mjs';
import { out, err, defineCommand } from './util.mjs';

const CONFIG_FILES = ['farm.config.ts', 'farm.config.mts', 'farm.config.mjs', 'farm.config.js', 'farm.config.json'];

/** `farm init`'s flags: the parser and the help are made from this one table. */
export const INIT = defineCommand({
  usage: 'farm init [options]',
  description: `Writes farm.config.ts for the repository in the current directory (or --root) from its
layout: the Vite app (vite.config.*), the FastAPI app (\`app = FastAPI(...)\`), its requirements or
pyproject.toml (and uv.lock), the env file its settings read, the package manager (lockfile) and
the database (by the drivers in the dependencies). Prints what it found and what it could not
decide. Never overwrites a config unless --force.`,
  options: [
    { name: 'force', help: 'Overwrite an existing farm.config.*' },
    { name: 'dry-run', help: 'Print the config instead of writing it' },
    { name: 'json', help: 'Print what was detected as JSON (nothing is written)' },
    { name: 'root', type: 'string', arg: 'DIR', help: 'Project directory (default: the current directory)' },
  ],
});

/** Runs `farm init ARGS`; resolves to the exit code. */
export async function init(args) {
  let opts;
  try {
    opts = INIT.parse(args).values;
  } catch (e) {
    err(`farm init: ${e.message}\n`);
    err(INIT.help());
    return 2;
  }
  if (opts.help) {
    out(INIT.help());
    return 0;
  }
  const root = path.resolve(opts.root ?? process.cwd());
  if (!existsSync(root)) {
    err(`farm init: ${root} does not exist`);
    return 2;
  }
  const scan = scanProject(root);
  if (opts.json) {
    out(JSON.stringify(scan, null, 2));
    return 0;
  }
  const text = renderConfig(scan);
  if (opts['dry-run']) {
    process.stdout.write(text);
    return 0;
  }
  const existing = CONFIG_FILES.find((f) => existsSync(path.join(root, f)));
  if (existing && !opts.force) {
    err(`✗ ${existing} already exists in ${root}: not overwritten. Fix: \`farm init --force\` to replace it, or \`farm init --dry-run\` to see what it would write`);
    return 2;
  }
  if (!scan.appName) {
    err(`✗ could not derive an app name from ${root}. Fix: add a package.json with a "name"`);
    return 2;
  }
  report(scan);
  // farm.config.ts is the first file the loader looks for: it wins over any other config file.
  const target = path.join(root, 'farm.config.ts');
  writeFileSync(target, text);
  out(`\n✓ wrote ${path.relative(process.cwd(), target) || target}. Check it, then run \`npx farm build\`.`);
  if (existing && existing !== 'farm.config.ts') out(`  (${existing} is no longer loaded: remove it)`);
  return 0;
}

/** Prints what was found, and what could not be decided. */
function report(s) {
  const lines = [];
  lines.push(`app name     ${s.appName} (from ${s.nameFrom})${s.version ? ` · version ${s.version}` : ''}`);
  lines.push(s.frontend ? `frontend     ${s.frontend.root} (${s.frontend.viteConfig})` : 'frontend     none (no vite.config.*)');
  if (s.backend) {
    const b = s.backend;
    lines.push(`backend      ${b.root} · app ${b.app} (${b.appFile})`);
    const project = [s.python.requirements, s.python.pyproject && 'pyproject.toml', s.python.lock?.file].filter(Boolean);
    lines.push(`python       ${project.length ? project.join(' + ') : 'no project file'}${s.python.extras?.length ? ` · extras ${s.python.extras.join(', ')}` : ''}`);
    if (b.envFile) lines.push(`env file     ${b.envFile.path} (read by ${b.envFile.from})`);
    else if (b.envFileMissing) lines.push(`env file     ${b.envFileMissing.ref} is read by ${b.envFileMissing.file} but does not exist`);
    if (b.python) lines.push(`interpreter  ${b.python}`);
  } else lines.push('backend      none (no `FastAPI(` app)');
  lines.push(`database     ${s.database.kind} (${s.database.why})`);
  lines.push(`packages     ${s.packageManager ? `${s.packageManager.name} (${s.packageManager.lockfile})` : 'no lockfile'}`);
  out('farm init found:');
  for (const l of lines) out(`  ${l}`);
  if (s.undecided.length) {
    out('\ncould not decide (see the comments in the config):');
    for (const u of s.undecided) out(`  ? ${u}`);
  }
}

const q = (s) => `'${String(s).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** The text of farm.config.ts for a scan: the values found, each with where it came from. */
export function renderConfig(s) {
  const L = [];
  L.push('// farm.config.ts, written by `farm init` from the layout of this repository. Every value below');
  L.push('// says where it came from; check them, then run `npx farm build`. All keys: the README of');
  L.push('// @farm/build-native (node_modules/@farm/build-native/README.md), or hover them in your editor.');
  L.push("import type { FarmConfig } from '@farm/build-native';");
  L.push('');
  L.push('export default {');
  L.push(`  appName: ${q(s.appName)}, // ${s.nameFrom}`);
  if (s.version) L.push(`  version: ${q(s.version)},`);
  if (s.frontend) {
    const f = s.frontend;
    L.push('');
    L.push(`  // The React/Vite app (${f.viteConfig}), built into dist/web.`);
    L.push('  frontend: {');
    L.push(`    root: ${q(f.root)},`);
    if (!f.tsconfig) L.push('    // No tsconfig.json: no `typecheck` task.');
    L.push('  },');
  }
  if (s.backend) {
    const b = s.backend;
    L.push('');
    L.push(`  // The FastAPI app: \`${b.app.split(':')[1]} = FastAPI(...)\` in ${b.appFile}, built into dist/api.`);
    L.push('  backend: {');
    L.push(`    root: ${q(b.root)},${b.root === '.' ? '' : ' // where its Python project file is'}`);
    L.push(`    app: ${q(b.app)},`);
    if (b.python) L.push(`    python: ${q(b.python)}, // the virtualenv found`);
    if (s.python.requirements && s.python.requirements !== 'requirements.txt') {
      L.push(`    requirements: ${q(s.python.requirements)},`);
    } else if (!s.python.requirements && s.python.pyproject) {
      L.push('    // Dependencies from pyproject.toml (no requirements.txt).');
    }
    if (s.python.lock?.tool === 'uv') L.push(`    installer: 'uv', // ${s.python.lock.file}`);
    else if (s.python.lock) L.push(`    // ${s.python.lock.file}: export a requirements.txt, e.g. \`${s.python.lock.tool} export -o requirements.txt\``);
    if (s.python.extras?.length) {
      L.push(`    extras: [${s.python.extras.map(q).join(', ')}], // [project.optional-dependencies]${s.python.devExtras?.length ? ` (left out: ${s.python.devExtras.join(', ')})` : ''}`);
    }
    if (b.envFile) L.push(`    envFile: ${q(b.envFile.path)}, // read by the settings in ${b.envFile.from}`);
    else if (b.envFileMissing) L.push(`    // envFile: ${q(b.envFileMissing.ref)}, // read by ${b.envFileMissing.file}, but it does not exist yet`);
    if (s.frontend?.typesFile) {
      L.push(`    // ${s.frontend.typesFileWhy}: the generated API types go beside it.`);
      L.push(`    typesFile: ${q(s.frontend.typesFile)},`);
    }
    L.push('  },');
    L.push('');
    L.push('  // Deployment files in dist/: Dockerfiles, docker-compose.yml and deploy scripts (`generateK8s:');
    L.push('  // true` adds Kubernetes manifests). `build: true` also builds the images with a Docker engine.');
    L.push('  docker: {');
    L.push('    build: false,');
    const db = s.database;
    const why = db.ambiguous ? 'both MongoDB and PostgreSQL drivers found: pick "mongo" or "postgres"' : db.why;
    L.push(`    database: ${q(db.kind)}, // ${why}`);
    if (db.kind === 'postgres' && db.scheme && db.scheme !== 'postgresql') {
      L.push(`    postgres: { urlScheme: ${q(db.scheme)} }, // DATABASE_URL for SQLAlchemy with this driver`);
    }
    L.push('  },');
  }
  const undecided = s.undecided;
  if (undecided.length) {
    L.push('');
    L.push('  // farm init could not decide:');
    for (const u of undecided) L.push(`  // - ${u.replace(/\n/g, ' ')}`);
  }
  L.push('} satisfies FarmConfig;');
  return `${L.join('\n')}\n`;
}
