//! The `BuildResult` as JavaScript sees it (`index.d.ts`): the napi layer's object, field for field
//! and in the same order, so `farm build --json` prints the same document on both paths. Numbers
//! are `f64` as in JavaScript; absent options are left out, as napi leaves them out.

use crate::orchestrator::BuildResult;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `BuildResult` (see `src/napi/mod.rs`, `JsBuildResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDoc {
  /// Whether every planned task succeeded.
  pub success: bool,
  /// Unique, time-sortable id.
  pub build_id: String,
  /// Wall time, ms.
  pub duration: f64,
  /// Artifacts of the succeeded tasks.
  pub artifacts: Vec<ArtifactDoc>,
  /// Timings and memory.
  pub metrics: MetricsDoc,
  /// Why it failed.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub error: Option<ErrorDoc>,
  /// Every planned task.
  pub tasks: Vec<TaskDoc>,
  /// Warnings that did not fail the build.
  pub warnings: Vec<String>,
  /// `build-manifest.json`, relative to the root.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub manifest_path: Option<String>,
  /// What the remote cache did.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub remote: Option<RemoteDoc>,
  /// Where `--upload` stored the build.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub upload: Option<UploadDoc>,
}

/// `BuildArtifact`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactDoc {
  /// `frontend-bundle`, `backend-source`, ...
  #[serde(rename = "type")]
  pub kind: String,
  /// Short name.
  pub name: String,
  /// Relative to the root.
  pub path: String,
  /// Bytes.
  pub size: f64,
  /// `sha256:<hex>`.
  pub hash: String,
  /// Type-specific facts.
  pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// `BuildMetrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsDoc {
  /// Wall time, ms.
  pub total_ms: f64,
  /// Per phase and stage, ms (sorted by name).
  pub phases: BTreeMap<String, f64>,
  /// Per task, ms (sorted by name).
  pub tasks: BTreeMap<String, f64>,
  /// Peak RSS of this process.
  pub peak_rss_bytes: f64,
  /// Peak RSS of the largest child.
  pub peak_child_rss_bytes: f64,
}

/// `BuildError`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDoc {
  /// Stable code.
  pub code: String,
  /// What went wrong.
  pub message: String,
  /// The failed task (`TASK_FAILED`).
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub task: Option<String>,
}

/// `TaskResult`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDoc {
  /// The task.
  pub name: String,
  /// `succeeded`, `failed`, `skipped`, `cancelled`.
  pub status: String,
  /// Run time, ms.
  pub duration_ms: f64,
  /// Error or skip reason.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub message: Option<String>,
  /// `hit`, `miss`, `off`.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub cache: Option<String>,
  /// The cache key.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub key: Option<String>,
  /// Restore time of a hit, ms.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub restore_ms: Option<f64>,
  /// Why the task is not cached.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub cache_reason: Option<String>,
  /// `local` or `remote`.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub cache_source: Option<String>,
  /// Bytes downloaded for a remote hit.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub remote_bytes: Option<f64>,
}

/// `RemoteCacheSummary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteDoc {
  /// URL or bucket.
  pub location: String,
  /// Remote hits.
  pub hits: f64,
  /// Bytes downloaded.
  pub downloaded_bytes: f64,
  /// Artifacts uploaded.
  pub uploads: f64,
  /// Bytes uploaded.
  pub uploaded_bytes: f64,
  /// Artifacts the store already had (`HEAD`), not sent again.
  #[serde(default)]
  pub already_stored: f64,
  /// Whether the build could upload.
  pub write: bool,
  /// The server's caching status when it took no uploads.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub server_status: Option<String>,
}

/// `BuildUpload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadDoc {
  /// URL or bucket.
  pub location: String,
  /// `<prefix>/<buildId>`.
  pub prefix: String,
  /// Files uploaded.
  pub files: f64,
  /// Their size.
  pub bytes: f64,
}

impl From<BuildResult> for BuildDoc {
  fn from(r: BuildResult) -> Self {
    BuildDoc {
      success: r.success,
      build_id: r.build_id,
      duration: r.duration_ms,
      artifacts: r
        .artifacts
        .into_iter()
        .map(|a| ArtifactDoc {
          kind: a.kind,
          name: a.name,
          path: a.path,
          size: a.size as f64,
          hash: a.hash,
          metadata: a.metadata,
        })
        .collect(),
      metrics: MetricsDoc {
        total_ms: r.metrics.total_ms,
        phases: r.metrics.phases,
        tasks: r.metrics.tasks,
        peak_rss_bytes: r.metrics.peak_rss_bytes as f64,
        peak_child_rss_bytes: r.metrics.peak_child_rss_bytes as f64,
      },
      error: r.error.map(|e| ErrorDoc { code: e.code, message: e.message, task: e.task }),
      tasks: r
        .tasks
        .into_iter()
        .map(|t| TaskDoc {
          name: t.name,
          status: t.status.as_str().into(),
          duration_ms: t.duration_ms,
          message: t.message,
          cache: t.cache.as_ref().map(|c| c.status.as_str().into()),
          key: t.cache.as_ref().and_then(|c| c.key.clone()),
          restore_ms: t.cache.as_ref().and_then(|c| c.restore_ms),
          cache_source: t.cache.as_ref().and_then(|c| c.source).map(|s| s.as_str().into()),
          remote_bytes: t.cache.as_ref().and_then(|c| c.remote_bytes).map(|b| b as f64),
          cache_reason: t.cache.and_then(|c| c.reason),
        })
        .collect(),
      warnings: r.warnings,
      manifest_path: r.manifest_path,
      remote: r.remote.map(|s| RemoteDoc {
        location: s.location,
        hits: s.hits as f64,
        downloaded_bytes: s.downloaded_bytes as f64,
        uploads: s.uploads as f64,
        uploaded_bytes: s.uploaded_bytes as f64,
        already_stored: s.already_stored as f64,
        write: s.write,
        server_status: s.server_status,
      }),
      upload: r.upload.map(|u| UploadDoc {
        location: u.location,
        prefix: u.prefix,
        files: u.files as f64,
        bytes: u.bytes as f64,
      }),
    }
  }
}

/// `farm build --dry-run --json`: `{ dryRun: true, tasks }`, each task as `DryRunTask` of
/// `index.d.ts` (`src/napi/dry_run.rs`), fields in the same order. Both CLIs print it (the Node CLI
/// through `BuildOrchestrator.dryRunText`), so their outputs are the same bytes.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRunDoc<'a> {
  /// Always `true`: what `farm cache diff` looks for.
  pub dry_run: bool,
  /// The planned tasks, in plan order.
  pub tasks: Vec<DryRunTaskDoc<'a>>,
}

/// `DryRunTask`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRunTaskDoc<'a> {
  /// The task.
  pub name: &'a str,
  /// Its dependencies.
  pub deps: &'a [String],
  /// `hit`, `miss` or `off`.
  pub cache: &'static str,
  /// Its key, when cached.
  #[serde(skip_serializing_if = "Option::is_none")]
  pub key: Option<&'a str>,
  /// How many input files went into the key.
  pub inputs: usize,
  /// Why it is not cached.
  #[serde(skip_serializing_if = "Option::is_none")]
  pub reason: Option<&'a str>,
  /// What the key was computed from.
  #[serde(skip_serializing_if = "Option::is_none")]
  pub manifest: Option<KeyManifestDoc<'a>>,
}

/// `KeyManifest` (camelCase, `machine` always present, as napi gives it).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyManifestDoc<'a> {
  /// Schema version.
  pub schema_version: u32,
  /// Encoding version.
  pub encoding_version: u32,
  /// The task.
  pub task: &'a str,
  /// The key.
  pub key: &'a str,
  /// Input files (`{ path, hash }`), sorted by path.
  pub inputs: &'a [crate::hash::InputFile],
  /// The task's config subset.
  pub config: &'a serde_json::Value,
  /// Env var → digest of its value (`null` = unset).
  pub env: &'a BTreeMap<String, Option<crate::hash::Digest>>,
  /// Tool versions.
  pub tools: &'a BTreeMap<String, String>,
  /// Dependency → its key.
  pub deps: &'a BTreeMap<String, String>,
  /// Extra content digests.
  pub extra: &'a BTreeMap<String, crate::hash::Digest>,
  /// Machine-bound facts.
  pub machine: &'a BTreeMap<String, String>,
}

impl<'a> DryRunDoc<'a> {
  /// The document of these rows.
  pub fn new(rows: &'a [crate::orchestrator::DryRunTask]) -> Self {
    let tasks = rows
      .iter()
      .map(|t| DryRunTaskDoc {
        name: &t.name,
        deps: &t.deps,
        cache: t.cache.as_str(),
        key: t.key.as_deref(),
        inputs: t.inputs,
        reason: t.reason.as_deref(),
        manifest: t.manifest.as_ref().map(|m| KeyManifestDoc {
          schema_version: m.schema_version,
          encoding_version: m.encoding_version,
          task: &m.task,
          key: &m.key,
          inputs: &m.inputs,
          config: &m.config,
          env: &m.env,
          tools: &m.tools,
          deps: &m.deps,
          extra: &m.extra,
          machine: &m.machine,
        }),
      })
      .collect();
    DryRunDoc { dry_run: true, tasks }
  }
}
