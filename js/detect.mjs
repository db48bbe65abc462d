// Reads the layout of an existing repository (for `farm init`, and for the config loader to find
// the project's Vite): the Vite app, the FastAPI app and its Python project, the env file its
// settings read, the package manager and the database drivers. Reads files only; writes nothing.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** Directories never searched: dependencies, virtualenvs, caches, build outputs, VCS. */
const SKIP_DIRS = new Set([
  'node_modules', 'bower_components', '__pycache__', 'site-packages', 'venv', 'dist', 'build', 'out',
  'coverage', 'htmlcov', 'target', 'tmp',
]);
const MAX_DEPTH = 4;
const MAX_PY_BYTES = 512 * 1024;
const VITE_CONFIGS = ['vite.config.ts', 'vite.config.mts', 'vite.config.js', 'vite.config.mjs', 'vite.config.cts', 'vite.config.cjs'];
const LOCKFILES = [
  ['pnpm-lock.yaml', 'pnpm'],
  ['yarn.lock', 'yarn'],
  ['bun.lock', 'bun'],
  ['bun.lockb', 'bun'],
  ['package-lock.json', 'npm'],
];
/** Optional-dependency groups that are for development, not for the production venv. */
const DEV_EXTRAS = new Set(['dev', 'develop', 'development', 'test', 'tests', 'testing', 'lint', 'linting', 'docs', 'doc', 'typing', 'types', 'mypy', 'format', 'ci']);
const MONGO_DRIVERS = ['motor', 'pymongo', 'beanie', 'odmantic', 'mongoengine'];
const POSTGRES_DRIVERS = ['psycopg', 'psycopg-binary', 'psycopg-c', 'psycopg2', 'psycopg2-binary', 'asyncpg', 'pg8000'];
const ORMS = ['sqlmodel', 'sqlalchemy'];

const rel = (root, p) => path.relative(root, p).split(path.sep).join('/') || '.';
const read = (p) => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return null;
  }
};

/** Files under `root` (relative, `/`), breadth-first, skipping hidden and dependency directories. */
export function listFiles(root, maxDepth = MAX_DEPTH) {
  const out = [];
  let level = [root];
  for (let depth = 0; depth <= maxDepth && level.length; depth++) {
    const next = [];
    for (const dir of level) {
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
      } catch {
        continue;
      }
      for (const e of entries) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) {
          if (!e.name.startsWith('.') && !SKIP_DIRS.has(e.name) && !existsSync(path.join(p, 'pyvenv.cfg'))) next.push(p);
        } else if (e.isFile()) out.push(rel(root, p));
      }
    }
    level = next;
  }
  return out;
}

/** Directories holding a `vite.config.*`, shallowest first (`.` for the root). */
export function findViteApps(root, files = listFiles(root)) {
  const dirs = files.filter((f) => VITE_CONFIGS.includes(path.posix.basename(f))).map((f) => path.posix.dirname(f));
  return [...new Set(dirs)].sort((a, b) => depth(a) - depth(b) || (a < b ? -1 : 1));
}

const depth = (d) => (d === '.' ? 0 : d.split('/').length);

/** Normalizes a Python distribution name (PEP 503): lowercase, runs of `-_.` → `-`. */
const normalize = (name) => name.toLowerCase().replace(/[-_.]+/g, '-');

/** Distribution names from a requirements file (following `-r`/`-c` includes inside `base`). */
function requirementNames(file, base, seen = new Set()) {
  if (seen.has(file)) return [];
  seen.add(file);
  const text = read(file);
  if (text == null) return [];
  const names = [];
  for (let line of text.split('\n')) {
    line = line.replace(/(^|\s)#.*$/, '').trim();
    if (!line) continue;
    const inc = line.match(/^(?:-r|--requirement|-c|--constraint)\s*=?\s*(\S+)/);
    if (inc) {
      const target = path.resolve(path.dirname(file), inc[1]);
      if (target.startsWith(base)) names.push(...requirementNames(target, base, seen));
      continue;
    }
    if (line.startsWith('-')) continue;
    const m = line.match(/^([A-Za-z0-9][A-Za-z0-9._-]*)/);
    if (m) names.push(normalize(m[1]));
  }
  return names;
}

/**
 * The parts of a `pyproject.toml` farm needs, without a TOML library: `[project]` name, version
 * and dependencies, `[project.optional-dependencies]` groups, and Poetry's dependency tables.
 */
export function readPyproject(text) {
  const out = { name: null, version: null, dependencies: [], extras: {}, poetry: false };
  let section = '';
  let arrayKey = null;
  let buffer = '';
  const depName = (spec) => spec.match(/^\s*([A-Za-z0-9][A-Za-z0-9._-]*)/)?.[1];
  const strings = (s) => [...s.matchAll(/"([^"]*)"|'([^']*)'/g)].map((m) => m[1] ?? m[2]);
  const finish = (key, body) => {
    const names = strings(body).map(depName).filter(Boolean).map(normalize);
    if (section === 'project' && key === 'dependencies') out.dependencies.push(...names);
    else if (section === 'project.optional-dependencies') out.extras[key] = names;
  };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '');
    if (arrayKey) {
      buffer += `\n${line}`;
      if (/\]\s*$/.test(line.trim())) {
        finish(arrayKey, buffer);
        arrayKey = null;
      }
      continue;
    }
    const header = line.match(/^\s*\[\s*([^\]]+?)\s*\]\s*$/);
    if (header) {
      section = header[1].replace(/"/g, '');
      if (section.startsWith('tool.poetry')) out.poetry = true;
      continue;
    }
    const kv = line.match(/^\s*("?)([A-Za-z0-9_.-]+)\1\s*=\s*(.*)$/);
    if (!kv) continue;
    const [, , key, value] = kv;
    if (section === 'project' && (key === 'name' || key === 'version')) out[key] = strings(value)[0] ?? null;
    else if (/^tool\.poetry\.(?:group\.[^.]+\.)?dependencies$/.test(section) || section === 'tool.poetry.dependencies') {
      if (key !== 'python') out.dependencies.push(normalize(key));
    } else if (value.trim().startsWith('[')) {
      if (/\]\s*$/.test(value.trim())) finish(key, value);
      else {
        arrayKey = key;
        buffer = value;
      }
    }
  }
  return out;
}

/** `app = FastAPI(...)` assignments in a Python source: the variable names. */
function fastapiApps(source) {
  const names = [];
  for (const m of source.matchAll(/^([A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*[A-Za-z_.]+\s*)?=\s*(?:fastapi\.)?FastAPI\(/gm)) names.push(m[1]);
  return names;
}

const isTestFile = (f) => /(^|\/)(tests?|testing)\//.test(f) || /(^|\/)(test_[^/]*|[^/]*_test|conftest)\.py$/.test(f);
const isIdent = (s) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(s);

/** The nearest directory from `dir` up to `root` holding a Python project file; else `dir`. */
function pythonRoot(root, dir) {
  let d = dir;
  for (;;) {
    const abs = path.join(root, d);
    const has = existsSync(path.join(abs, 'pyproject.toml')) || readdirSync(abs).some((f) => /^requirements.*\.txt$/.test(f));
    if (has) return d;
    if (d === '.') return dir;
    d = path.posix.dirname(d);
  }
}

/** The `env_file` a pydantic-settings class (or `load_dotenv`) reads, as written. */
function envFileRefs(source) {
  const refs = [];
  for (const m of source.matchAll(/env_file\s*=\s*[([]?\s*(?:f?)(["'])([^"']+)\1/g)) refs.push(m[2]);
  for (const m of source.matchAll(/load_dotenv\(\s*(?:dotenv_path\s*=\s*)?(["'])([^"']+)\1/g)) refs.push(m[2]);
  return refs;
}

/**
 * Everything `farm init` needs to know about the repository at `root`: each finding with where
 * it came from (`why`), and `undecided`: what it could not settle, with what to do.
 */
export function scanProject(root) {
  root = path.resolve(root);
  const files = listFiles(root);
  const undecided = [];
  const pkg = JSON.parse(read(path.join(root, 'package.json')) ?? 'null');

  // Frontend: the shallowest Vite app.
  const viteApps = findViteApps(root, files);
  let frontend = null;
  if (viteApps.length) {
    const dir = viteApps[0];
    const viteConfig = files.find((f) => path.posix.dirname(f) === dir && VITE_CONFIGS.includes(path.posix.basename(f)));
    frontend = { root: dir, viteConfig, tsconfig: existsSync(path.join(root, dir, 'tsconfig.json')) };
    if (viteApps.length > 1) undecided.push(`several Vite apps (${viteApps.join(', ')}): using ${dir}; set \`frontend.root\` to pick another`);
  }

  // Backend: `app = FastAPI(` in a non-test .py file; main.py / app.py first, then the shallowest.
  const candidates = [];
  for (const f of files.filter((f) => f.endsWith('.py') && !isTestFile(f))) {
    const abs = path.join(root, f);
    if (statSync(abs).size > MAX_PY_BYTES) continue;
    for (const name of fastapiApps(read(abs) ?? '')) candidates.push({ file: f, name });
  }
  const rank = (c) => (/(^|\/)(main|app|server|api)\.py$/.test(c.file) ? 0 : 1);
  candidates.sort((a, b) => rank(a) - rank(b) || depth(a.file) - depth(b.file) || (a.file < b.file ? -1 : 1));
  let backend = null;
  if (candidates.length) {
    const c = candidates[0];
    const beRoot = pythonRoot(root, path.posix.dirname(c.file));
    const modPath = (beRoot === '.' ? c.file : c.file.slice(beRoot.length + 1)).replace(/\.py$/, '').split('/');
    if (modPath.at(-1) === '__init__') modPath.pop();
    if (modPath.every(isIdent)) {
      backend = { root: beRoot, app: `${modPath.join('.')}:${c.name}`, appFile: c.file };
    } else {
      undecided.push(`FastAPI app in ${c.file}, but its path from ${beRoot} is not an importable module: set \`backend.root\` and \`backend.app\``);
    }
    if (candidates.length > 1) {
      undecided.push(`several FastAPI apps (${candidates.map((x) => `${x.file}:${x.name}`).join(', ')}): using ${c.file}`);
    }
  }

  let python = { dependencies: [], requirements: null, pyproject: null, lock: null };
  if (backend) {
    const beAbs = path.join(root, backend.root);
    const reqs = readdirSync(beAbs).filter((f) => /^requirements.*\.txt$/.test(f)).sort();
    const prodReq = reqs.find((f) => f === 'requirements.txt') ?? reqs.find((f) => /prod/.test(f)) ?? reqs.find((f) => !/dev|test|lint|doc/.test(f));
    if (reqs.length > 1) undecided.push(`several requirements files in ${backend.root} (${reqs.join(', ')}): using ${prodReq ?? 'none'}`);
    if (prodReq) {
      python.requirements = prodReq;
      python.dependencies.push(...requirementNames(path.join(beAbs, prodReq), beAbs));
    }
    const pyText = read(path.join(beAbs, 'pyproject.toml'));
    if (pyText != null) {
      const py = readPyproject(pyText);
      python.pyproject = py;
      python.dependencies.push(...py.dependencies, ...Object.values(py.extras).flat());
      const prodExtras = Object.keys(py.extras).filter((g) => !DEV_EXTRAS.has(g.toLowerCase()));
      python.extras = prodExtras;
      python.devExtras = Object.keys(py.extras).filter((g) => DEV_EXTRAS.has(g.toLowerCase()));
    }
    for (const [lock, tool] of [['uv.lock', 'uv'], ['poetry.lock', 'poetry'], ['Pipfile.lock', 'pipenv'], ['pdm.lock', 'pdm']]) {
      if (existsSync(path.join(beAbs, lock))) {
        python.lock = { file: lock, tool };
        break;
      }
    }
    if (python.lock && python.lock.tool !== 'uv') {
      undecided.push(`${python.lock.file}: farm installs with pip or uv; export a requirements.txt (e.g. \`${python.lock.tool} export -o requirements.txt\`) and set \`backend.requirements\``);
    }
    if (!prodReq && pyText == null) undecided.push(`no requirements*.txt or pyproject.toml in ${backend.root}: the production venv is not built until you add one`);

    // The env file the settings read: relative to the backend root, where the app runs.
    const pyFiles = files.filter((f) => f.endsWith('.py') && (backend.root === '.' || f.startsWith(`${backend.root}/`)) && !isTestFile(f));
    const refs = [];
    for (const f of pyFiles) for (const r of envFileRefs(read(path.join(root, f)) ?? '')) refs.push({ ref: r, file: f });
    const found = refs.find((r) => existsSync(path.join(beAbs, r.ref)));
    if (found) backend.envFile = { path: found.ref, from: found.file };
    else if (refs.length) backend.envFileMissing = refs[0];

    // A virtualenv outside the default places (`.venv` in the root or the backend root).
    for (const d of [backend.root, '.']) {
      for (const v of ['venv', 'env']) {
        const py = path.posix.join(d, v, 'bin', 'python');
        if (!backend.python && existsSync(path.join(root, py)) && existsSync(path.join(root, d, v, 'pyvenv.cfg'))) backend.python = py;
      }
    }
  }

  // Database: by the drivers in the dependencies.
  const deps = new Set(python.dependencies);
  const mongo = MONGO_DRIVERS.filter((d) => deps.has(d));
  const pg = POSTGRES_DRIVERS.filter((d) => deps.has(d));
  const orm = ORMS.filter((d) => deps.has(d));
  let database = { kind: 'none', why: backend ? 'no MongoDB or PostgreSQL driver in the dependencies' : 'no backend' };
  if (mongo.length && pg.length) {
    undecided.push(`both MongoDB (${mongo.join(', ')}) and PostgreSQL (${pg.join(', ')}) drivers: set \`docker.database\` to "mongo" or "postgres"`);
    database = { kind: 'none', why: 'both MongoDB and PostgreSQL drivers found', ambiguous: true };
  } else if (mongo.length) {
    database = { kind: 'mongo', why: `${mongo.join(', ')} in the dependencies` };
  } else if (pg.length) {
    const scheme = pg.some((d) => d.startsWith('psycopg') && !d.startsWith('psycopg2')) ? 'postgresql+psycopg' : pg.includes('asyncpg') ? 'postgresql+asyncpg' : 'postgresql';
    database = { kind: 'postgres', why: `${pg.join(', ')} in the dependencies`, scheme };
  } else if (orm.length && backend) {
    const beAbs = path.join(root, backend.root);
    const texts = files
      .filter((f) => (f.endsWith('.py') || /(^|\/)\.env/.test(f)) && (backend.root === '.' || f.startsWith(`${backend.root}/`)))
      .map((f) => read(path.join(root, f)) ?? '');
    for (const envName of ['.env', '../.env', '.env.example', '../.env.example']) texts.push(read(path.join(beAbs, envName)) ?? '');
    if (texts.some((t) => /postgres(?:ql)?(?:\+\w+)?:\/\/|POSTGRES_(?:SERVER|HOST|DB|USER)/.test(t))) {
      database = { kind: 'postgres', why: `${orm.join(', ')} with a PostgreSQL URL`, scheme: 'postgresql' };
    } else {
      undecided.push(`${orm.join(', ')} without a known driver or database URL: set \`docker.database\` if the app needs a database service`);
    }
  }

  // Package manager: by the lockfile at the root, else beside the Vite app.
  let packageManager = null;
  for (const dir of ['.', frontend?.root].filter(Boolean)) {
    const hit = LOCKFILES.find(([f]) => existsSync(path.join(root, dir, f)));
    if (hit) {
      packageManager = { name: hit[1], lockfile: path.posix.join(dir, hit[0]) };
      break;
    }
  }
  if (!packageManager && frontend) undecided.push('no npm, pnpm, yarn or bun lockfile: install the frontend dependencies before `farm build`');

  // The app's name and version: the root's package.json, else its pyproject.toml (a backend's own
  // is often named after its package, e.g. "app"), else the directory.
  const pyproject = backend?.root === '.' ? python.pyproject : null;
  let appName = null;
  let nameFrom = null;
  const candidatesName = [
    [pkg?.name, 'package.json "name"'],
    [pyproject?.name, 'pyproject.toml [project] name'],
    [path.basename(root), 'the directory name'],
  ];
  for (const [n, from] of candidatesName) {
    const s = sanitizeName(n);
    if (s) {
      appName = s;
      nameFrom = from;
      break;
    }
  }
  const version = [pkg?.version, pyproject?.version].find((v) => typeof v === 'string' && /^[A-Za-z0-9._+-]+$/.test(v)) ?? null;

  // Types: the generated file must never overwrite a file that is the user's.
  if (frontend && backend) {
    const typesRel = path.posix.join(frontend.root, 'src/types/api.ts');
    const existing = read(path.join(root, typesRel));
    if (existing != null && !existing.includes('auto-generated by @farm/build-native')) {
      frontend.typesFile = path.posix.join(frontend.root, 'src/types/farm-api.ts');
      frontend.typesFileWhy = `${typesRel} exists and is not generated by farm`;
    }
  }

  if (!frontend && !backend) undecided.push('no vite.config.* and no `FastAPI(` app found: nothing to build yet');
  return { root, appName, nameFrom, version, frontend, backend, python, database, packageManager, undecided };
}

/** A valid `appName` from any name (`@acme/My App` → `acme-my-app`), or null. */
export function sanitizeName(name) {
  if (typeof name !== 'string') return null;
  const s = name
    .toLowerCase()
    .replace(/^@/, '')
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .replace(/-+$/, '')
    .slice(0, 64);
  return s || null;
}
