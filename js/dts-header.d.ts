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

