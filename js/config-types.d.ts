// The types of farm.config.*, generated from the Rust config types (src/config) by
// `cargo run --example config_schema`. Do not edit: change the Rust types and regenerate.
import type { FarmPluginHooks } from '../index.js'

/** The FARM build configuration (farm.config.ts / .mjs / .js / .json) of @farm/build-native. */
export interface FarmConfig {
  /**
   * The JSON Schema of the file (`farm.config.json` only), e.g.
   * `"./node_modules/@farm/build-native/farm.config.schema.json"`. Ignored by the build.
   */
  $schema?: string | null
  /** The application's name: lowercase letters, digits, `-`, `_`, `.` (it names Docker images). */
  appName: string
  /**
   * The application's version. Default `"0.0.0"`.
   * @default "0.0.0"
   */
  version?: string
  /**
   * The target environment. Default `production`.
   * @default "production"
   */
  environment?: Environment
  /**
   * Where build outputs go, relative to the project root. Default `"dist"`.
   * @default "dist"
   */
  outputDir?: string
  /**
   * Where the build cache lives, relative to the project root. Default `".farm/cache"`.
   * @default ".farm/cache"
   */
  cacheDir?: string
  /** Options of the build as a whole. */
  build?: BuildSettings
  /** The React/Vite frontend. Absent: no frontend tasks. */
  frontend?: FrontendConfig | null
  /** The FastAPI backend. Absent: no backend tasks. */
  backend?: BackendConfig | null
  /**
   * AI models: Ollama models (configs, pulls, exports), custom models, `ai-config.json`.
   * Absent: no `ai-models` task.
   */
  ai?: AiConfig | null
  /**
   * Docker images (built through the Engine API) and deployment files (compose, Kubernetes,
   * scripts). Absent: no `docker` task.
   */
  docker?: DockerConfig | null
  /**
   * FARM plugins: names, or `{ name, options, enabled }`. Hook functions are passed separately by JS.
   * @default []
   */
  plugins?: PluginSpec[]
  /** The build cache. */
  cache?: CacheConfig
  /**
   * Extra tasks that run a shell command (like Turborepo's tasks), by name.
   * @default {}
   */
  tasks?: Record<string, CommandTask>
}

/** The environment a build targets. */
export type Environment = 'production' | 'development' | 'staging'

/** Options of the build as a whole (`build` in the config). */
export interface BuildSettings {
  /** Tasks run at once (1 to 256). Default: the number of CPU cores. */
  concurrency?: number | null
  /**
   * Keep running tasks that do not depend on a failed one. Default `false` (fail fast).
   * @default false
   */
  continueOnError?: boolean
  /** Delete `outputDir` before building. Default `true`. */
  clean?: boolean | null
  /**
   * Where `farm build --upload` stores the build's files and `build-manifest.json`
   * (`<prefix>/<buildId>/…`). With this set every successful build uploads. Default: the store
   * of `cache.remote` when `--upload` is given.
   */
  upload?: UploadConfig | null
}

/** `build.upload`: a store for the build's output files (same kinds of stores as `cache.remote`). */
export interface UploadConfig {
  /**
   * A Turborepo remote cache API server (`http://host:port` or `https://…`); each file is the artifact
   * `<prefix>/<buildId>/<path>`. Give this or `bucket`.
   */
  url?: string | null
  /**
   * An S3-compatible bucket; credentials from the standard AWS env vars. Or an Azure Blob
   * Storage container, `"az://<container>"` (credentials from the `AZURE_STORAGE_*` env vars).
   */
  bucket?: string | null
  /**
   * The S3 endpoint (MinIO, SeaweedFS), or the Azure account's blob endpoint. Default: AWS
   * (Azure: `https://<account>.blob.core.windows.net`).
   */
  endpoint?: string | null
  /** The S3 region. Default: `AWS_REGION`, else `us-east-1`. */
  region?: string | null
  /** Key prefix. Default `"builds"`. */
  prefix?: string | null
  /** The team (Turborepo API). Default: `cache.remote.team`, else `farm`. */
  team?: string | null
  /** The env var holding the bearer token (Turborepo API). Default `FARM_REMOTE_CACHE_TOKEN`. */
  tokenEnv?: string | null
  /** Time limit of each request, ms (1 to 600000). Default 60000. */
  timeoutMs?: number | null
}

/** The frontend section (`frontend` in the config). */
export interface FrontendConfig {
  /**
   * The Vite app's directory, relative to the project root. Default `"apps/web"`.
   * @default "apps/web"
   */
  root?: string
  /**
   * Output directory inside `outputDir`. Default `"web"`.
   * @default "web"
   */
  outDir?: string
  /**
   * Run `tsc --noEmit` as its own task, in parallel with the Vite build. Default: `true` when the
   * app has a `tsconfig.json`.
   */
  typecheck?: boolean | null
  /** Public base path (Vite's `base`). Default: the user's `vite.config`, else `/`. */
  base?: string | null
  /** Source maps. Default: on except in production. */
  sourcemap?: boolean | null
  /** Minification. Default: on in production and staging. */
  minify?: boolean | null
  /**
   * Vendor chunk groups: chunk name → package names. Default: `react-vendor` (react, react-dom,
   * scheduler), `router-vendor` (react-router, react-router-dom), `ui-vendor`, `utils-vendor`.
   */
  chunks?: Record<string, string[]> | null
  /**
   * Extra compile-time constants (Vite's `define`), as JSON values.
   * @default {}
   */
  define?: Record<string, unknown>
  /**
   * Size budgets that fail the build: `{ total?, chunk?, chunks?: { name: size }, measure? }`
   * (gzip sizes by default; see `assets::budget`).
   */
  budgets?: Budgets | null
}

/** `frontend.budgets`. */
export interface Budgets {
  /** All JavaScript and CSS together, e.g. `"500KB"`. */
  total?: string | null
  /** Every JavaScript chunk and CSS file, e.g. `"250KB"`. */
  chunk?: string | null
  /**
   * By chunk name or output file name, e.g. `{ "react-vendor": "200KB" }`.
   * @default {}
   */
  chunks?: Record<string, string>
  /**
   * `gzip` (default), `brotli` or `raw`.
   * @default "gzip"
   */
  measure?: Measure
}

/** What a budget measures. */
export type Measure = 'gzip' | 'brotli' | 'raw'

/** The backend section (`backend` in the config). */
export interface BackendConfig {
  /**
   * The FastAPI app's directory, relative to the project root. Default `"apps/api"`.
   * @default "apps/api"
   */
  root?: string
  /**
   * Output directory inside `outputDir`. Default `"api"`.
   * @default "api"
   */
  outDir?: string
  /**
   * The Python interpreter. Default: `.venv/bin/python` in the project root or the backend root,
   * else `python3` on `PATH`.
   */
  python?: string | null
  /**
   * The ASGI app as `module:attribute`, relative to `root`. Default `"main:app"`.
   * @default "main:app"
   */
  app?: string
  /**
   * Generate TypeScript types from the app's OpenAPI document (the `types` task, between backend
   * and frontend). Default: `true` when there is a `frontend` section.
   */
  generateTypes?: boolean | null
  /**
   * Where the generated types go, relative to the project root.
   * Default: `<frontend.root>/src/types/api.ts`.
   */
  typesFile?: string | null
  /**
   * Extra globs (relative to `root`) left out of the output copy, on top of the built-in ones
   * (`__pycache__`, `.pytest_cache`, `tests/`, `test_*.py`, `*_test.py`, `conftest.py`, venvs, `.env*`).
   * @default []
   */
  exclude?: string[]
  /**
   * Build a production virtualenv with the requirements installed, placed at `<outDir>/.venv`.
   * It is built once per requirements content (+ Python, installer) under
   * `<cacheDir>/venvs/<key>` and reused while they do not change.
   * Default: `true` when the requirements file exists.
   */
  venv?: boolean | null
  /**
   * The requirements file, relative to `root`. Default: `requirements.txt` when it exists, else
   * `pyproject.toml`'s `[project.dependencies]` (pinned by `uv.lock` when there is one).
   */
  requirements?: string | null
  /**
   * `[project.optional-dependencies]` groups of `pyproject.toml` installed with the
   * dependencies, e.g. `["prod"]`. Default: none.
   */
  extras?: string[]
  /**
   * Environment variables for the import check, the OpenAPI export and migrations: literal
   * values, or `${VAR}` / `${VAR:-default}` references to the process environment (or to
   * `envFile`). Values enter task keys only as digests and are redacted from logs.
   */
  env?: Record<string, string>
  /**
   * A dotenv file (python-dotenv syntax) read for the same steps, relative to `root`, e.g.
   * `"../.env"`. Variables already set in the process environment win over it (as with
   * pydantic-settings); `env` wins over both. A missing file (CI, where `.env` is not
   * committed) leaves the process environment alone; the build log says so.
   */
  envFile?: string | null
  /**
   * Who installs the requirements: `pip`, `uv`, or `auto` (uv when it is on `PATH`, else pip).
   * Default `auto`.
   */
  installer?: PythonInstaller | null
  /**
   * A migration command run after the build (e.g. `"alembic upgrade head"`), through `sh -c`,
   * in the output copy (`<outputDir>/<outDir>`, never the user's sources) with the production
   * venv's `bin` first on `PATH`. Default: none.
   */
  migrate?: string | null
  /** Fail the task when the migration command fails; `false` turns it into a warning. Default `true`. */
  failOnMigrationError?: boolean | null
  /**
   * Remove unused imports and sort imports with ruff (`ruff check --select F401,I --fix`) in the
   * output copy only. Default: `true` when ruff is available (`python -m ruff` or `ruff` on
   * `PATH`); `true` without ruff is an error.
   */
  tidyImports?: boolean | null
}

/** Who installs the backend's requirements (`backend.installer`). */
export type PythonInstaller = 'auto' | 'pip' | 'uv'

/** The `ai` section of the farm config. */
export interface AiConfig {
  /**
   * AI providers. Default: none configured.
   * @default {}
   */
  providers?: Providers
  /**
   * When `true`, an unreachable Ollama server (or a failed pull) fails the ai-models task;
   * when `false` (default) it is reported as a warning and the build goes on.
   * @default false
   */
  required?: boolean
  /**
   * Custom model directories to bundle (copied with checksums, never converted). Default: `[]`.
   * @default []
   */
  customModels?: CustomModel[]
  /**
   * Free-form routing rules, copied (secrets scrubbed) into `ai-config.json`. Default: `{}`.
   * @default {}
   */
  routing?: Record<string, unknown>
  /**
   * Free-form feature flags, copied (secrets scrubbed) into `ai-config.json`. Default: `{}`.
   * @default {}
   */
  features?: Record<string, unknown>
}

/** `ai.providers`: the two known providers plus any number of generic ones. */
export interface Providers {
  /** Local Ollama server. Default: absent (not used). */
  ollama?: OllamaProvider | null
  /** OpenAI (or an OpenAI-compatible API). Default: absent. */
  openai?: OpenAiProvider | null
  [key: string]: GenericProvider | OllamaProvider | null | OpenAiProvider | undefined
}

/** `ai.providers.ollama`. */
export interface OllamaProvider {
  /**
   * Whether the provider is used. Default: `true` (writing the section means using it).
   * @default true
   */
  enabled?: boolean
  /**
   * Base URL of the Ollama server, `http://` only for now. Default: `http://localhost:11434`.
   * @default "http://localhost:11434"
   */
  url?: string
  /**
   * Model names (`llama3.2`, `llama3.2:1b`, `ns/model:tag`, `host/ns/model:tag`). Default: `[]`.
   * @default []
   */
  models?: string[]
  /**
   * The model used when a request names none; must be one of `models` when `models` is
   * not empty. Default: none (the first of `models` is reported as default in `ai-config.json`).
   */
  defaultModel?: string | null
  /**
   * Timeout per request (and idle timeout between chunks of a streamed pull), in ms.
   * Default: 30000.
   * @default 30000
   */
  timeoutMs?: number
  /**
   * Retries after the first attempt, with exponential backoff, for connection errors,
   * timeouts and HTTP 5xx (never for 4xx). Default: 3.
   * @default 3
   */
  retries?: number
  /**
   * Pull missing models during the build (with progress events). Default: `false`
   * (missing models only go into `ai/scripts/pull-models.sh`).
   * @default false
   */
  pull?: boolean
  /**
   * Export the models from Ollama's local store into `<outputDir>/models/<name>/`.
   * Default: `false`.
   * @default false
   */
  export?: boolean
}

/** `ai.providers.openai`. */
export interface OpenAiProvider {
  /**
   * Whether the provider is used. Default: `true`.
   * @default true
   */
  enabled?: boolean
  /**
   * API key. Never written to any output: `ai-config.json` gets `${FARM_OPENAI_API_KEY}`.
   * Default: none.
   */
  apiKey?: string | null
  /**
   * Model names. Default: `[]`.
   * @default []
   */
  models?: string[]
  /** Default model; must be one of `models` when `models` is not empty. Default: none. */
  defaultModel?: string | null
  /** API base URL (http or https). Default: none (the OpenAI SDK's default). */
  baseUrl?: string | null
}

/**
 * Any other provider: the common fields plus free-form settings (secrets among them are
 * scrubbed from every output).
 */
export interface GenericProvider {
  /**
   * Whether the provider is used. Default: `true`.
   * @default true
   */
  enabled?: boolean
  /**
   * Model names. Default: `[]`.
   * @default []
   */
  models?: string[]
  /** Default model; must be one of `models` when `models` is not empty. Default: none. */
  defaultModel?: string | null
  [key: string]: unknown
}

/** One entry of `ai.customModels`. */
export interface CustomModel {
  /** Name, used as the output directory name: `[A-Za-z0-9._-]`, not starting with `.`. Required. */
  name: string
  /** Kind of model directory. Required. */
  type: CustomModelKind
  /** Directory (or single file), relative to the project root or absolute. Required. */
  path: string
}

/** The kind of a custom model. Only recorded (and sanity-checked); nothing is converted. */
export type CustomModelKind = 'huggingface' | 'pytorch' | 'tensorflow'

/** The `docker` config section. Every field is optional; defaults are documented per field. */
export interface DockerConfig {
  /**
   * Build images with the Docker engine (default `true`); `false` only writes the files.
   * @default true
   */
  build?: boolean
  /**
   * Also write `k8s-manifests.yaml` and `deploy/deploy-k8s.sh` (default `false`).
   * @default false
   */
  generateK8s?: boolean
  /**
   * Build the Ollama image too when AI with Ollama is enabled (default `true`).
   * @default true
   */
  buildOllamaImage?: boolean
  /**
   * Base images; each defaults from the detected toolchain (`node:<LTS>-slim`,
   * `python:<major.minor>-slim`, `ollama/ollama:<server version>`).
   */
  baseImages?: BaseImagesConfig
  /** Registry to push to (default: none, no push). */
  registry?: RegistryConfig | null
  /**
   * API port inside the container (default `8000`).
   * @default 8000
   */
  port?: number
  /**
   * Health endpoint (default `/health`).
   * @default "/health"
   */
  healthPath?: string
  /**
   * App environment. Values that look like secrets, or whose keys are named like secrets, are
   * written as `${KEY}` references; `"${VAR}"` references another variable (default empty).
   * @default {}
   */
  environment?: Record<string, string>
  /**
   * Kubernetes requests/limits (defaults: app 250m/1 CPU, 256Mi/512Mi; MongoDB 250m/1,
   * 512Mi/1Gi; Ollama 1/4, 4Gi/8Gi).
   */
  resources?: ResourcesConfig
  /**
   * App replicas in Kubernetes (default `1`).
   * @default 1
   */
  replicas?: number
  /**
   * The database service beside the app in `docker-compose.yml` and the Kubernetes manifests:
   * `mongo` (the default), `postgres` or `none`.
   * @default "mongo"
   */
  database?: Database
  /** MongoDB settings (with `database: "mongo"`). */
  mongo?: MongoConfig
  /** PostgreSQL settings (with `database: "postgres"`). */
  postgres?: PostgresConfig
  /**
   * Docker endpoint (`unix:///path` or `tcp://host:port`); default `$DOCKER_HOST`, else
   * `unix:///var/run/docker.sock`.
   */
  host?: string | null
  /**
   * Also tag and push `:latest` (default `true`).
   * @default true
   */
  tagLatest?: boolean
  /**
   * Always rebuild, ignoring the context hash and the engine's layer cache (default `false`).
   * @default false
   */
  noCache?: boolean
  /**
   * After building, run the production image (`--network none`), wait for its HEALTHCHECK to
   * pass, then remove the container; a failing check fails the task (default `false`; needs
   * `build: true`).
   * @default false
   */
  smoke?: boolean
  /**
   * Image builder of the production image: `auto` (the default: BuildKit when the engine offers
   * it, with a pip cache mount in the dependency install; else the classic builder), `buildkit`
   * (an error when the engine cannot) or `classic` (no `RUN --mount`). With `build: false`,
   * `auto` writes the classic Dockerfile (it builds everywhere).
   * @default "auto"
   */
  builder?: BuilderChoice
}

/** Base image overrides (each `None` = from the toolchain). */
export interface BaseImagesConfig {
  /** Frontend build stage image. */
  node?: string | null
  /** Backend/runtime image. */
  python?: string | null
  /** Ollama image (`Dockerfile.ollama`'s `FROM`). */
  ollama?: string | null
}

/** Registry to push images to; credentials come from environment variables. */
export interface RegistryConfig {
  /** Registry host[:port], no scheme (e.g. `ghcr.io`, `127.0.0.1:5000`). */
  url: string
  /**
   * Env var holding the user name (default `FARM_REGISTRY_USER`).
   * @default "FARM_REGISTRY_USER"
   */
  usernameEnv?: string
  /**
   * Env var holding the password or token (default `FARM_REGISTRY_PASSWORD`).
   * @default "FARM_REGISTRY_PASSWORD"
   */
  passwordEnv?: string
  /** Optional namespace/organisation. */
  namespace?: string | null
}

/** Requests/limits per service. */
export interface ResourcesConfig {
  /** The app. */
  app?: ResourceSpecConfig
  /** MongoDB. */
  mongodb?: ResourceSpecConfig
  /** PostgreSQL. */
  postgres?: ResourceSpecConfig
  /** Ollama. */
  ollama?: ResourceSpecConfig
}

/** Per-container overrides of requests/limits (Kubernetes quantities). */
export interface ResourceSpecConfig {
  /** CPU request, e.g. `250m`. */
  cpuRequest?: string | null
  /** CPU limit, e.g. `1`. */
  cpuLimit?: string | null
  /** Memory request, e.g. `256Mi`. */
  memoryRequest?: string | null
  /** Memory limit, e.g. `512Mi`. */
  memoryLimit?: string | null
}

/**
 * Which database service the generated `docker-compose.yml` and Kubernetes manifests run beside
 * the app (`docker.database`).
 */
export type Database = 'mongo' | 'postgres' | 'none'

/** MongoDB service settings. */
export interface MongoConfig {
  /**
   * Image (default `mongo:7`).
   * @default "mongo:7"
   */
  image?: string
  /** Database name (default: the app name with `-` → `_`). */
  database?: string | null
  /**
   * Env var with the root user name at deploy time (default `MONGO_USERNAME`).
   * @default "MONGO_USERNAME"
   */
  usernameEnv?: string
  /**
   * Env var with the root password at deploy time (default `MONGO_PASSWORD`).
   * @default "MONGO_PASSWORD"
   */
  passwordEnv?: string
  /**
   * Kubernetes volume size (default `5Gi`).
   * @default "5Gi"
   */
  storage?: string
}

/** PostgreSQL service settings (`docker.postgres`). */
export interface PostgresConfig {
  /**
   * Image. Default `"postgres:16"`.
   * @default "postgres:16"
   */
  image?: string
  /** Database name. Default: the app name with `-` → `_`. */
  database?: string | null
  /**
   * Env var with the user name at deploy time. Default `"POSTGRES_USER"`.
   * @default "POSTGRES_USER"
   */
  usernameEnv?: string
  /**
   * Env var with the password at deploy time (never written). Default `"POSTGRES_PASSWORD"`.
   * @default "POSTGRES_PASSWORD"
   */
  passwordEnv?: string
  /**
   * Kubernetes volume size. Default `"5Gi"`.
   * @default "5Gi"
   */
  storage?: string
  /**
   * Scheme of the app's `DATABASE_URL`: `postgresql` (psycopg2, the default),
   * `postgresql+psycopg` (psycopg 3) or `postgresql+asyncpg` (asyncpg), as SQLAlchemy expects.
   * @default "postgresql"
   */
  urlScheme?: PostgresScheme
}

/** The scheme of `DATABASE_URL` for PostgreSQL (`docker.postgres.urlScheme`). */
export type PostgresScheme = 'postgresql' | 'postgresql+psycopg' | 'postgresql+asyncpg'

/**
 * `docker.builder`: which image builder builds the production image (and which variant of the
 * production `Dockerfile` is written).
 */
export type BuilderChoice = 'auto' | 'buildkit' | 'classic'

/** A plugin entry: a name, or an object with a name. */
export type PluginSpec = string | PluginObject

/** A plugin given as an object. */
export interface PluginObject {
  /** The plugin's name. */
  name: string
  /** Options handed to the plugin at runtime (`plugin-config.json`). */
  options?: unknown
  /**
   * Whether it is on. Default `true`.
   * @default true
   */
  enabled?: boolean
  /** Before any task, after config validation. May be sync or async. */
  preBuild?: FarmPluginHooks['preBuild']
  /** After the build, with its summary. May be sync or async. */
  postBuild?: FarmPluginHooks['postBuild']
  /** Before each task. May be sync or async. */
  onTaskStart?: FarmPluginHooks['onTaskStart']
  /** After each task. May be sync or async. */
  onTaskEnd?: FarmPluginHooks['onTaskEnd']
}

/** The build cache (`cache` in the config). */
export interface CacheConfig {
  /**
   * Use the cache. Default `true` (`--no-cache` turns it off for one build).
   * @default true
   */
  enabled?: boolean
  /**
   * Entries unused for longer are evicted: `"7d"`, `"12h"`, `"30m"`. Default `"7d"`.
   * @default "7d"
   */
  ttl?: string
  /**
   * Size cap; past it the least recently used entries go (down to 80 %). Default `"5GiB"`.
   * @default "5GiB"
   */
  maxSize?: string
  /**
   * How outputs are restored: `auto` (reflink, else copy), `reflink`, `hardlink`, `copy`.
   * @default "auto"
   */
  restore?: RestoreMode
  /**
   * Input globs per task, replacing the defaults (relative to the task's directory).
   * @default {}
   */
  inputs?: Record<string, string[]>
  /**
   * Environment variables per task that enter its key (only these; values are hashed).
   * @default {}
   */
  env?: Record<string, string[]>
  /**
   * A remote cache shared by a team and CI (see the README's "Remote cache"). The env vars
   * `FARM_REMOTE_CACHE_URL`, `FARM_REMOTE_CACHE_TEAM` and `FARM_REMOTE_CACHE_READ_ONLY=1`
   * override it; secrets come only from env vars.
   */
  remote?: RemoteCacheConfig | null
}

/** How cached outputs are restored (`cache.restore`; the schema of that string). */
export type RestoreMode = 'auto' | 'reflink' | 'hardlink' | 'copy'

/** `cache.remote`: where the shared cache lives and what this machine may do with it. */
export interface RemoteCacheConfig {
  /**
   * A Turborepo remote cache API server (`http://host:port` or `https://…`, the `/v8/artifacts` API), e.g. the
   * open-source `turborepo-remote-cache`. Give this or `bucket`.
   */
  url?: string | null
  /**
   * An S3-compatible bucket (AWS S3, MinIO, SeaweedFS, GCS through its XML API). Credentials
   * come from the standard AWS env vars (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
   * `AWS_SESSION_TOKEN`). Or an Azure Blob Storage container, `"az://<container>"`, with the
   * account and its credentials from the `AZURE_STORAGE_*` env vars (`AZURE_STORAGE_ACCOUNT_NAME`,
   * `AZURE_STORAGE_ACCOUNT_KEY`).
   */
  bucket?: string | null
  /**
   * The S3 endpoint (`http://127.0.0.1:8333` for a local SeaweedFS or MinIO, or `https://…`). Default: AWS
   * (`AWS_ENDPOINT_URL` when set). For Azure, the account's blob endpoint (Azurite:
   * `http://127.0.0.1:10000/devstoreaccount1`); default `https://<account>.blob.core.windows.net`.
   */
  endpoint?: string | null
  /** The S3 region. Default: `AWS_REGION`, else `us-east-1`. */
  region?: string | null
  /** Key prefix of the artifacts in the bucket. Default `"farm-cache"`. */
  prefix?: string | null
  /**
   * The team: Turborepo's `teamId` (or `slug` when it does not start with `team_`); part of what
   * is signed.
   */
  team?: string | null
  /** The env var holding the bearer token. Default `FARM_REMOTE_CACHE_TOKEN`. */
  tokenEnv?: string | null
  /**
   * The env var holding the signature key. When that var is set, uploads are signed and
   * downloads without a valid signature are refused.
   */
  signatureKeyEnv?: string | null
  /**
   * Download entries missing locally. Default `true`.
   * @default true
   */
  read?: boolean
  /**
   * Upload entries built here. Default `true`; set `false` (or `FARM_REMOTE_CACHE_READ_ONLY=1`)
   * wherever untrusted code builds, such as pull requests.
   * @default true
   */
  write?: boolean
  /** Time limit of one request, ms (1 to 600000). Default 10000. */
  timeoutMs?: number | null
}

/** A task that runs a shell command (`tasks.<name>` in the config). */
export interface CommandTask {
  /** The command, run with `sh -c` in `cwd`. */
  command: string
  /**
   * Working directory, relative to the project root. Default `"."`.
   * @default "."
   */
  cwd?: string
  /**
   * Input globs relative to `cwd` (`!glob` excludes). Default `["**"]`.
   * @default ["**"]
   */
  inputs?: string[]
  /**
   * Output directories relative to `cwd` (`dist` or `dist/**`): cached and restored.
   * @default []
   */
  outputs?: string[]
  /**
   * Environment variables that enter the key (values are hashed, never stored).
   * @default []
   */
  env?: string[]
  /**
   * Tasks that must succeed first (any task name, built-in or not).
   * @default []
   */
  dependsOn?: string[]
  /**
   * Cache this task. Default `true`.
   * @default true
   */
  cache?: boolean
}
