// Types of the raw binding (`require('@farm/build-native')`, index.js). The ESM entry
// (`import … from '@farm/build-native'`, js/index.mjs) is typed by js/index.d.mts.
import type { FarmConfig } from './js/config-types.js'
/** The config's types (generated from the Rust config types: js/config-types.d.ts). */
export type * from './js/config-types.js'

/** The argument of a plugin's `preBuild` hook. */
export interface PreBuildContext {
  buildId: string
  appName: string
  version: string
  environment: 'production' | 'development' | 'staging'
  /** The project root (absolute). */
  root: string
  /** `outputDir` (absolute). */
  outputDir: string
  /** The planned tasks, dependencies first. */
  tasks: string[]
}

/** The argument of a plugin's `postBuild` hook. */
export interface PostBuildSummary {
  buildId: string
  success: boolean
  artifacts: Array<{ type: string; name: string; path: string; size: number; hash: string }>
  tasks: Array<{ name: string; status: TaskStatus; durationMs: number }>
  error: { code: string; message: string; task: string | null } | null
}

/** The argument of a plugin's `onTaskStart` hook. */
export interface TaskStartContext {
  buildId: string
  task: string
  phase: string
  deps: string[]
}

/** The argument of a plugin's `onTaskEnd` hook. */
export interface TaskEndContext {
  buildId: string
  task: string
  status: TaskStatus
  durationMs: number
  /** The error, for a failed task. */
  error: string | null
}


/**
 * Which binding artifact the generated loader actually loaded: `'native'` for
 * a native addon, otherwise the `platformArchABI` of the WASI flavor. Every
 * flavor napi-rs can build is listed, because `NAPI_RS_NATIVE_LIBRARY_PATH`
 * can point the loader at a WASI artifact this package does not build itself.
 */
export declare const __napiBindingTarget: 'native' | 'wasm32-wasi' | 'wasm32-wasip1'

/** The FARM build orchestrator: validates the config on construction, then builds the task DAG. */
export declare class BuildOrchestrator {
  /**
   * Validates `config` (the object exported by `farm.config.*`). Throws an `Error` with
   * `code: 'CONFIG_INVALID'` whose message names the file, the key path, what is expected and the fix.
   */
  constructor(config: FarmConfig, options?: OrchestratorOptions | undefined | null)
  /** The validated config with every default filled in. */
  get config(): FarmConfig & Required<Pick<FarmConfig, 'version' | 'environment' | 'outputDir' | 'cacheDir' | 'build' | 'plugins' | 'cache' | 'tasks'>>
  /** The project root (absolute). */
  get root(): string
  /**
   * The tasks `targets` would run, dependencies first: `[{ name, deps, phase }]`. Throws
   * `CONFIG_INVALID` for an unknown target.
   */
  plan(targets?: Array<string> | undefined | null): Array<{ name: string; deps: string[]; phase: string }>
  /**
   * The plan for `targets` with each task's cache key, `hit`/`miss`/`off`, and the key's manifest
   * (what it was computed from, for `farm cache diff`); nothing is built.
   */
  dryRun(targets?: Array<string> | undefined | null, toolVersions?: Record<string, string> | undefined | null): Array<DryRunTask>
  /**
   * What `farm build --dry-run` prints: the rows of [`Self::dry_run`] as the JSON document
   * (`json`) or as a title and a table, rendered as the native `farm` executable renders them.
   */
  dryRunText(targets: Array<string> | undefined | null, json: boolean, toolVersions?: Record<string, string> | undefined | null): string
  /**
   * What changed for `task` since its last cached build: `{ previous, filesAdded, filesRemoved,
   * filesModified, env, config, tools, deps, ..., lines }` (`lines`: the report as text).
   */
  cacheWhy(task: string, toolVersions?: Record<string, string> | undefined | null): Record<string, any> & { lines: string[] }
  /**
   * The cache: `{ dir, entries, totalBytes, oldestEntry, newestEntry, hits, misses, restoreFailures,
   * venvs: { count, bytes }, images: { count, bytes } }` (times as ms since the epoch; `totalBytes`
   * covers every store: entries, blobs, venvs and images).
   */
  cacheStatus(): { dir: string; entries: number; totalBytes: number; oldestEntry: number | null; newestEntry: number | null; hits: number; misses: number; restoreFailures: number; venvs: { count: number; bytes: number }; images: { count: number; bytes: number } }
  /**
   * Removes entries, venvs and image results unused for longer than `olderThan` (`"3d"`) and
   * trims the cache to `maxSize` (`"1G"`), least recently used first; with neither, empties every
   * store (a venv a running build holds is kept). Returns `{ removed, entries, venvs, images,
   * bytesFreed, bytesAfter }` (`removed` is the sum of the three counts).
   */
  cacheClean(olderThan?: string | undefined | null, maxSize?: string | undefined | null): { removed: number; entries: number; venvs: number; images: number; bytesFreed: number; bytesAfter: number }
  /**
   * Builds `targets` (default: all). Resolves to a `BuildResult` — failures are in `result.error`,
   * never a rejection.
   */
  build(targets?: Array<string> | undefined | null, options?: BuildOptions | undefined | null): Promise<BuildResult>
}

/**
 * Raw, gzip (level 6) and brotli (quality 11) sizes of every file under `dir`, computed in parallel
 * on the files as written, with each chunk's largest modules from `chunks` (Vite's bundle info).
 * Resolves to the content of `bundle-analysis.json`. Rejects with `ANALYSIS_ERROR: …`.
 */
export declare function analyzeBundle(dir: string, chunks?: Array<Record<string, any>>, options?: AnalyzeBundleOptions | undefined | null): Promise<Record<string, any>>

/** Options of `analyzeBundle`. */
export interface AnalyzeBundleOptions {
  /** Modules listed per chunk, largest first. Default 10. */
  topModules?: number
  /** Compute brotli sizes (quality 11). Default true. */
  brotli?: boolean
}

/** A file or directory the build produced. */
export interface BuildArtifact {
  /** `frontend-bundle`, `backend-source`, ... */
  type: string
  /** Short name. */
  name: string
  /** Relative to the project root. */
  path: string
  /** Bytes (a directory: sum of its files). */
  size: number
  /** `sha256:<hex>` of the file, or of the directory's sorted listing (see the README). */
  hash: string
  /** Type-specific facts. */
  metadata: Record<string, unknown>
}

/**
 * Why a build failed. `code`: `CONFIG_INVALID`, `TASK_FAILED`, `CANCELLED`, `CLEAN_REFUSED`,
 * `PLUGIN_FAILED`, `IO_ERROR`.
 */
export interface BuildError {
  /** Stable code. */
  code: string
  /** What went wrong. */
  message: string
  /** The failed task, for `TASK_FAILED`. */
  task?: string
}

/** A build event. */
export interface BuildEvent {
  /** What happened. */
  kind: EventKind
  /** The task (or phase) it is about. */
  task?: string
  /** A log line, an error, or a skip reason. */
  message?: string
  /** For finished tasks and phases: how long, in ms. */
  durationMs?: number
  /** Milliseconds since the build started. */
  timeMs: number
}

/** Build timings and memory. */
export interface BuildMetrics {
  /** Wall time, ms. */
  totalMs: number
  /** Per phase and per stage, ms (keys in sorted order). */
  phases: Record<string, number>
  /** Per task, ms (keys in sorted order). */
  tasks: Record<string, number>
  /** Peak RSS of this process, bytes. */
  peakRssBytes: number
  /** Peak RSS of the largest child process, bytes. */
  peakChildRssBytes: number
}

/** Options of one build. */
export interface BuildOptions {
  /** Cancels the build: running child processes and JS tasks are stopped; the result says `CANCELLED`. */
  signal?: AbortSignal
  /** Receives progress events in batches (at most one call per 50 ms). */
  onEvent?: (events: BuildEvent[]) => void
  /** Plugins whose hooks are awaited (in order) around the build and each task. */
  plugins?: Array<FarmPluginHooks>
  /** Runs a Vite build; given by `@farm/build-native`'s JS entry (see `js/vite.mjs`). */
  frontendRunner?: (request: any) => Promise<any>
  /** Stops a running Vite build by task id. */
  cancelFrontend?: (taskId: string) => void
  /** Keep running tasks that do not depend on a failed one. Default: `build.continueOnError`. */
  continueOnError?: boolean
  /** Tasks run at once. Default: `build.concurrency`, else the number of cores. */
  concurrency?: number
  /** Delete outputs first. Default: `build.clean` (true). */
  clean?: boolean
  /** The Node.js executable for tools run as processes (tsc). Default `node`. */
  nodePath?: string
  /**
   * Tool versions known to the caller (e.g. `{ node: process.version }`), for the manifest
   * and the cache keys.
   */
  toolVersions?: Record<string, string>
  /** Neither read nor write the build cache for this build. */
  noCache?: boolean
  /**
   * For each cache hit, also run the task and compare its output with the restored one; a
   * difference fails the task, naming the files and the likely undeclared inputs.
   */
  verifyCache?: boolean
  /**
   * After a successful build, store the output files and `build-manifest.json` under
   * `<prefix>/<buildId>/` in `build.upload`'s store (else `cache.remote`'s).
   */
  upload?: boolean
  /** Record timed spans (`farm build --profile`); they come back in `result.profile`. */
  profile?: boolean
}

/** The spans of a profiled build. */
export interface BuildProfile {
  /** In start order. */
  spans: Array<ProfileSpan>
  /** The lanes' names. */
  lanes: Array<ProfileLane>
}

/** The result of a build. */
export interface BuildResult {
  /** Whether every planned task succeeded. */
  success: boolean
  /** Unique, time-sortable id. */
  buildId: string
  /** Wall time, ms. */
  duration: number
  /** Artifacts of the succeeded tasks. */
  artifacts: Array<BuildArtifact>
  /** Timings and memory. */
  metrics: BuildMetrics
  /** Why it failed (absent on success). */
  error?: BuildError
  /** Every planned task. */
  tasks: Array<TaskResult>
  /** Warnings that did not fail the build. */
  warnings: Array<string>
  /** `build-manifest.json`, relative to the project root. */
  manifestPath?: string
  /** What the remote cache did (absent without one). */
  remote?: RemoteCacheSummary
  /** Where the build's files were uploaded (`upload` / `build.upload`). */
  upload?: BuildUpload
  /** The build's spans, with the `profile` option. */
  profile?: BuildProfile
}

/** Where `--upload` stored a build. */
export interface BuildUpload {
  /** The store (URL or bucket; never a secret). */
  location: string
  /** `<prefix>/<buildId>`: the key prefix of every file. */
  prefix: string
  /** Files uploaded. */
  files: number
  /** Their total size. */
  bytes: number
}

/**
 * The names of the built-in tasks (`backend`, `types`, ...), in plan order; a config's
 * `tasks.<name>` add command tasks.
 */
export declare function builtinTasks(): Array<string>

/** Where a cache hit came from. */
export type CacheSource = 'local' | 'remote'

/** Whether a task came from the build cache. */
export type CacheState = 'hit' | 'miss' | 'off'

/**
 * Checks an analysis (from `analyzeBundle` or `bundle-analysis.json`) against `budgets`
 * (`{ total?, chunk?, chunks?, measure? }`). Returns `{ violations: [{ name, file, size, limit }],
 * table }` (`table` is empty when nothing is over). Throws `BUDGET_INVALID` for a bad size.
 */
export declare function checkBudgets(analysis: Record<string, any>, budgets: { total?: string; chunk?: string; chunks?: Record<string, string>; measure?: 'gzip' | 'brotli' | 'raw' }): { violations: Array<{ name: string; file: string | null; size: number; limit: number }>; table: string }

/** Which codecs compute gzip and brotli sizes in this process: `{ gzip, brotli, matchesNode }`. */
export declare function compressionInfo(): { gzip: string; brotli: string; matchesNode: boolean }

/**
 * Runs the warm-mode daemon of the project at `root` (cache in `cacheDir`) until `stop`, the
 * idle timeout or the root's removal; resolves to `stopped`, `idle` or `root-gone`. Throws when
 * it cannot start (e.g. one already runs).
 */
export declare function daemonServe(root: string, cacheDir: string, idleTimeoutMs: number): Promise<string>

/** The socket path of the project's daemon. */
export declare function daemonSocketPath(root: string, cacheDir: string): string

/** The status of the project's daemon, or `null` when none runs (a stale socket is removed). */
export declare function daemonStatus(root: string, cacheDir: string): DaemonStatus | null

/** A running daemon, as `farm daemon status` shows it. */
export interface DaemonStatus {
  /** Its process id. */
  pid: number
  /** Milliseconds since it started. */
  uptimeMs: number
  /** The project root it watches. */
  root: string
  /** Its socket. */
  socket: string
  /** Builds it served. */
  builds: number
  /** Input walks answered from memory. */
  memoHits: number
  /** Input walks it did. */
  walks: number
  /** `watching`, or `failed: <why>` (then it serves nothing from memory). */
  watcher: string
  /** Its protocol version. */
  protocol: number
  /** The binary it runs. */
  identity: string
  /** Milliseconds without a request before it exits. */
  idleTimeoutMs: number
}

/** Stops the project's daemon; returns whether one was running. */
export declare function daemonStop(root: string, cacheDir: string): boolean

/**
 * Compares two outputs of `farm build --dry-run --json` (their texts, with the file names used in
 * messages), task by task: input files, env vars (by name), tool versions, config keys,
 * dependency keys and machine-bound facts that differ. Throws `DRY_RUN_INVALID` naming the file
 * and the fix for a text that is not such an output.
 */
export declare function diffDryRuns(firstText: string, firstFile: string, secondText: string, secondFile: string): DryRunDiff

/** The comparison of two dry runs. */
export interface DryRunDiff {
  /** The first file's name. */
  first: string
  /** The second file's name. */
  second: string
  /** True when every task has the same key (or is uncached on both sides). */
  identical: boolean
  /** Every task of either plan. */
  tasks: Array<DryRunTaskDiff>
  /** The comparison as text. */
  lines: Array<string>
}

/** How a task compares between two dry runs. */
export type DryRunDiffKind = 'same' | 'changed' | 'only-in-first' | 'only-in-second' | 'cached-on-one-side' | 'uncached'

/** One task of a dry run. */
export interface DryRunTask {
  /** The task. */
  name: string
  /** Its dependencies. */
  deps: Array<string>
  /** Whether the cache has its key (`hit`), not (`miss`), or it is not cached (`off`). */
  cache: CacheState
  /** Its key, when cached. */
  key?: string
  /** How many input files went into the key. */
  inputs: number
  /** Why it is not cached. */
  reason?: string
  /** What the key was computed from (present whenever `key` is). */
  manifest?: KeyManifest
}

/** One task of a dry-run diff. */
export interface DryRunTaskDiff {
  /** The task. */
  task: string
  /** How it compares. */
  kind: DryRunDiffKind
  /** Its key in the first dry run. */
  firstKey?: string
  /** Its key in the second dry run. */
  secondKey?: string
  /** Why it is not cached (on the side where it is not). */
  reason?: string
  /** Whether a key holds machine-bound facts. */
  machineBound: boolean
  /** `[first, second]` schema versions when they differ. */
  schemaChanged?: Array<number>
  /** Input files only in the second dry run. */
  filesAdded: Array<string>
  /** Input files only in the first dry run. */
  filesRemoved: Array<string>
  /** Input files whose contents differ. */
  filesModified: Array<string>
  /** Env vars that differ. */
  env: Array<KeyChange>
  /** Config keys (JSON paths) that differ. */
  config: Array<string>
  /** Tool versions that differ. */
  tools: Array<KeyChange>
  /** Dependency keys that differ. */
  deps: Array<KeyChange>
  /** Extra inputs that differ. */
  extra: Array<KeyChange>
  /** Machine-bound facts that differ. */
  machine: Array<KeyChange>
}

/** What a build event is about. */
export type EventKind = 'phase-started' | 'phase-finished' | 'task-queued' | 'task-started' | 'task-finished' | 'task-failed' | 'task-skipped' | 'task-cancelled' | 'log' | 'warning'

/**
 * A FARM plugin: a name and optional hooks, sync or async; a returned promise is awaited before
 * the build goes on, and a throw or rejection fails the build with `PLUGIN_FAILED`.
 */
export interface FarmPluginHooks {
  /** The plugin's name (used in error messages). */
  name: string
  /** Before any task, after config validation. */
  preBuild?: (ctx: PreBuildContext) => void | Promise<void>
  /** After the build, with its summary. */
  postBuild?: (result: PostBuildSummary) => void | Promise<void>
  /** Before each task. */
  onTaskStart?: (task: TaskStartContext) => void | Promise<void>
  /** After each task. */
  onTaskEnd?: (task: TaskEndContext) => void | Promise<void>
}

/**
 * Generates TypeScript types (openapi-typescript 7's shape: `paths`, `components`, `operations`)
 * from an OpenAPI 3.0/3.1 document. Throws `TYPEGEN_ERROR` naming the JSON pointer of a bad part.
 */
export declare function generateTypes(openapi: any): string

/** A named value that differs. Env vars show `set`, `unset` or `changed`, never a value. */
export interface KeyChange {
  /** The env var, tool, dependency task, extra input or machine fact. */
  name: string
  /** In the first dry run (absent = not there). */
  before?: string
  /** In the second dry run (absent = not there). */
  after?: string
}

/**
 * One input file of a key: its path (relative to the task's root, `/`-separated; `../` for files
 * above it) and the xxh3-128 of its bytes.
 */
export interface KeyInputFile {
  /** Relative, `/`-separated path. */
  path: string
  /** xxh3-128 of the contents (32 hex). */
  hash: string
}

/**
 * Everything a task's key was computed from. No absolute path enters it unless the task's
 * outputs embed one (`machine`); env values appear only as digests.
 */
export interface KeyManifest {
  /** Bumped when the meaning of inputs or config subsets changes. */
  schemaVersion: number
  /** Version of the key's byte encoding. */
  encodingVersion: number
  /** The task. */
  task: string
  /** The key (32 hex). */
  key: string
  /** Input files, sorted by path. */
  inputs: Array<KeyInputFile>
  /** The task's config subset. */
  config: Record<string, unknown>
  /** Declared env vars: name → digest of the value (`null` = unset). Never the value. */
  env: Record<string, string | undefined | null>
  /** Tool versions (`node`, `vite`, `typescript`, `python`, `@farm/build-native`). */
  tools: Record<string, string>
  /** Dependency task → its key. */
  deps: Record<string, string>
  /** Extra content digests. */
  extra: Record<string, string>
  /** Machine-bound facts the outputs embed (`outputPath`, `pythonHome`); empty for a portable key. */
  machine: Record<string, string>
}

/**
 * Losslessly optimizes the PNGs under `dir` (oxipng, in parallel; a file that would grow is kept).
 * Resolves to `{ files: [{ path, format, status, originalBytes, optimizedBytes, savedBytes, cached,
 * error }], originalBytes, optimizedBytes, savedBytes, cacheHits, durationMs }`. Rejects with
 * `IMAGE_ERROR: …` when `dir` cannot be read.
 */
export declare function optimizeImages(dir: string, options?: OptimizeImagesOptions | undefined | null): Promise<Record<string, any>>

/** Options of `optimizeImages`. */
export interface OptimizeImagesOptions {
  /** oxipng preset, 0 (fastest) to 6 (smallest). Default 2. */
  level?: number
  /** Remove chunks that do not change how the image looks (text, EXIF, time). Default true. */
  stripMetadata?: boolean
  /** Cache directory (results keyed by content hash). Default: no cache. */
  cacheDir?: string
  /** Only report; do not rewrite files. */
  dryRun?: boolean
  /** Only these files (relative to `dir`). Default: every image under `dir`. */
  files?: Array<string>
}

/** Where the project is. */
export interface OrchestratorOptions {
  /** The project root. Default: the current directory. */
  root?: string
  /** The config file's name, used in error messages. Default: `farm.config`. */
  configFile?: string
}

/** A lane of a profiled build. */
export interface ProfileLane {
  /** Its id (the spans' `lane`). */
  id: number
  /** `farm` or `task <name>`. */
  name: string
}

/** One timed span of a profiled build (a Chrome trace "X" event once written). */
export interface ProfileSpan {
  /** What ran. */
  name: string
  /**
   * `phase`, `plan`, `cache`, `walk`, `hash`, `task`, `restore`, `vite`, `python`, `process`,
   * `run`, `hook` or `manifest`.
   */
  cat: string
  /** Start, microseconds since the Unix epoch. */
  ts: number
  /** Duration, microseconds. */
  dur: number
  /** Lane (trace thread id): 0 for the orchestrator, one per task. */
  lane: number
  /** Counters and labels. */
  args: Record<string, number | string>
}

/** What the remote cache did in a build. */
export interface RemoteCacheSummary {
  /** Where the artifacts live (URL or bucket; never a secret). */
  location: string
  /** Tasks restored from the remote cache. */
  hits: number
  /** Bytes downloaded for them. */
  downloadedBytes: number
  /** Artifacts uploaded. */
  uploads: number
  /** Bytes uploaded. */
  uploadedBytes: number
  /** Artifacts the store already had (a `HEAD` said so), so not sent again. */
  alreadyStored: number
  /** Whether this build could upload (false: read-only, or the server takes no uploads). */
  write: boolean
  /**
   * The server's caching status when it said it takes no uploads (`paused`, `disabled`,
   * `over_limit`; from `/v8/artifacts/status`).
   */
  serverStatus?: string
}

/**
 * The summary `farm build` prints after a build (task table, artifacts, phases, memory, manifest,
 * remote cache, warnings, the verdict), from its `BuildResult`.
 */
export declare function renderBuildSummary(result: BuildResult): RenderedText

/** A rendered text, split by stream. */
export interface RenderedText {
  /** For stdout. */
  stdout: string
  /** For stderr. */
  stderr: string
}

/** One task of the build. */
export interface TaskResult {
  /** The task. */
  name: string
  /** How it ended. */
  status: TaskStatus
  /** Run time, ms. */
  durationMs: number
  /** The error (failed) or the reason (skipped). */
  message?: string
  /** Whether it came from the cache. */
  cache?: CacheState
  /** The task's cache key (32 hex). */
  key?: string
  /** Time spent restoring its outputs (hits), ms. */
  restoreMs?: number
  /** Why the task is not cached (`off`). */
  cacheReason?: string
  /** Where a hit came from: `local` or `remote`. */
  cacheSource?: CacheSource
  /** Bytes downloaded from the remote cache for this task (remote hits). */
  remoteBytes?: number
}

/** How a task ended. */
export type TaskStatus = 'succeeded' | 'failed' | 'skipped' | 'cancelled'

/** Forgets a process registered with `watchProcess` (call it when the process has exited). */
export declare function unwatchProcess(token: number): void

/** Validates a config without building. Returns it with defaults filled in; throws `CONFIG_INVALID`. */
export declare function validateConfig(config: FarmConfig, configFile?: string | undefined | null): FarmConfig

/** The addon's version. */
export declare function version(): string

/**
 * Registers a child process (by pid) that must not outlive this process: if this process dies, the
 * process watchdog SIGKILLs it. Returns a token for `unwatchProcess`, or `null` when there is no
 * watchdog (the child then relies on its own checks).
 */
export declare function watchProcess(pid: number): number | null
