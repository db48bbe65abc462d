//! What the Node CLI shares with the native `farm` executable: the build summary's renderer, so
//! both paths print the same bytes.

use super::Code;
use napi_derive::napi;

/// A rendered text, split by stream.
#[napi(object)]
pub struct RenderedText {
  /// For stdout.
  pub stdout: String,
  /// For stderr.
  pub stderr: String,
}

/// The summary `farm build` prints after a build (task table, artifacts, phases, memory, manifest,
/// remote cache, warnings, the verdict), from its `BuildResult`.
#[napi(ts_args_type = "result: BuildResult")]
pub fn render_build_summary(result: serde_json::Value) -> napi::Result<RenderedText, Code> {
  let doc: crate::cli::doc::BuildDoc = serde_json::from_value(result).map_err(|e| {
    napi::Error::new(
      Code("INVALID_ARG".into()),
      format!("renderBuildSummary: not a BuildResult: {e}"),
    )
  })?;
  let r = crate::cli::render::summary(&doc);
  Ok(RenderedText { stdout: r.stdout, stderr: r.stderr })
}
