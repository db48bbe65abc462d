//! Warm mode's binding: run the daemon, ask its status, stop it (see [`crate::daemon`]).

use super::Code;
use napi_derive::napi;
use std::path::PathBuf;
use std::time::Duration;

fn daemon_err(e: crate::daemon::DaemonError) -> napi::Error<Code> {
  napi::Error::new(Code("DAEMON_ERROR".into()), e.to_string())
}

/// A running daemon, as `farm daemon status` shows it.
#[napi(object, js_name = "DaemonStatus")]
pub struct JsDaemonStatus {
  /// Its process id.
  pub pid: u32,
  /// Milliseconds since it started.
  pub uptime_ms: f64,
  /// The project root it watches.
  pub root: String,
  /// Its socket.
  pub socket: String,
  /// Builds it served.
  pub builds: f64,
  /// Input walks answered from memory.
  pub memo_hits: f64,
  /// Input walks it did.
  pub walks: f64,
  /// `watching`, or `failed: <why>` (then it serves nothing from memory).
  pub watcher: String,
  /// Its protocol version.
  pub protocol: u32,
  /// The binary it runs.
  pub identity: String,
  /// Milliseconds without a request before it exits.
  pub idle_timeout_ms: f64,
}

/// Runs the warm-mode daemon of the project at `root` (cache in `cacheDir`) until `stop`, the
/// idle timeout or the root's removal; resolves to `stopped`, `idle` or `root-gone`. Throws when
/// it cannot start (e.g. one already runs).
#[napi]
pub async fn daemon_serve(
  root: String,
  cache_dir: String,
  idle_timeout_ms: f64,
) -> napi::Result<String> {
  let opts = crate::daemon::ServeOptions {
    root: PathBuf::from(root),
    cache_dir: PathBuf::from(cache_dir),
    idle_timeout: Duration::from_millis(idle_timeout_ms.max(1000.0) as u64),
  };
  tokio::task::spawn_blocking(move || crate::daemon::serve(&opts))
    .await
    .map_err(|e| napi::Error::from_reason(e.to_string()))?
    .map(|end| end.as_str().to_string())
    .map_err(|e| napi::Error::from_reason(e.to_string()))
}

/// The status of the project's daemon, or `null` when none runs (a stale socket is removed).
#[napi]
pub fn daemon_status(
  root: String,
  cache_dir: String,
) -> napi::Result<Option<JsDaemonStatus>, Code> {
  let s = crate::daemon::daemon_status(&PathBuf::from(root), &PathBuf::from(cache_dir))
    .map_err(daemon_err)?;
  Ok(s.map(|s| JsDaemonStatus {
    pid: s.pid,
    uptime_ms: s.uptime_ms as f64,
    root: s.root,
    socket: s.socket,
    builds: s.builds as f64,
    memo_hits: s.memo_hits as f64,
    walks: s.walks as f64,
    watcher: s.watcher,
    protocol: s.protocol,
    identity: s.identity,
    idle_timeout_ms: s.idle_timeout_ms as f64,
  }))
}

/// Stops the project's daemon; returns whether one was running.
#[napi]
pub fn daemon_stop(root: String, cache_dir: String) -> napi::Result<bool, Code> {
  crate::daemon::stop_daemon(&PathBuf::from(root), &PathBuf::from(cache_dir)).map_err(daemon_err)
}

/// The socket path of the project's daemon.
#[napi]
pub fn daemon_socket_path(root: String, cache_dir: String) -> String {
  crate::daemon::socket_path(&PathBuf::from(root), &PathBuf::from(cache_dir)).display().to_string()
}
