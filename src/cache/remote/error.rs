//! Errors of the remote cache. At build time every one of them is a warning: the task then runs
//! (or its upload is skipped) and the build goes on locally with the same result.

use super::artifact::ArtifactError;
use super::sign::SignatureError;

/// A remote cache failure. Messages never contain a token or a signature key.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
  /// The settings (config or env) are unusable; the remote cache is off for this build.
  #[error("remote cache: {0}")]
  Setup(String),
  /// The server could not be reached or the connection broke.
  #[error("remote cache {location}: {what} failed: {message}")]
  Unreachable {
    /// Where (URL or bucket, no credentials).
    location: String,
    /// The operation (`download of <id>`, `upload of <id>`).
    what: String,
    /// The transport error.
    message: String,
  },
  /// No complete answer within the time limit.
  #[error("remote cache {location}: {what} timed out after {ms} ms (cache.remote.timeoutMs)")]
  Timeout {
    /// Where.
    location: String,
    /// The operation.
    what: String,
    /// The limit, ms.
    ms: u64,
  },
  /// The server answered with an unexpected HTTP status.
  #[error("remote cache {location}: {what}: HTTP {status}{hint}")]
  Status {
    /// Where.
    location: String,
    /// The operation.
    what: String,
    /// The status code.
    status: u16,
    /// A hint (for 401/403: the token).
    hint: String,
  },
  /// The artifact's signature was missing or wrong: nothing of it was used.
  #[error("remote cache: refused the artifact of {key}: {source}")]
  Signature {
    /// The task key.
    key: String,
    /// What was wrong.
    #[source]
    source: SignatureError,
  },
  /// The artifact was malformed, truncated, unsafe or not storable: nothing of it was used.
  #[error("remote cache: refused the artifact of {key}: {source}")]
  Artifact {
    /// The task key.
    key: String,
    /// What was wrong.
    #[source]
    source: ArtifactError,
  },
  /// An S3-compatible store reported an error.
  #[error("remote cache {location}: {what}: {message}")]
  Store {
    /// Where.
    location: String,
    /// The operation.
    what: String,
    /// The object store's message.
    message: String,
  },
}
