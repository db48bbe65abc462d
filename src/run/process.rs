//! Child processes that stream their output as log lines and stop when the build is cancelled.
//!
//! Each child runs in its own process group; cancellation sends SIGTERM to the whole group, then
//! SIGKILL after a grace period, and waits for the child before returning, so no process is left.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// How long a cancelled child gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(3);
/// How many output lines are kept for error messages.
const KEEP_LINES: usize = 400;

/// Runs `program args` to the end (blocking, no stdin, stderr discarded) and returns its trimmed
/// stdout if it exited with 0. For quick probes: versions, git state.
pub fn probe(program: &str, args: &[&str], cwd: Option<&Path>) -> Option<String> {
  let mut cmd = std::process::Command::new(program);
  cmd.args(args).stdin(Stdio::null()).stderr(Stdio::null());
  if let Some(dir) = cwd {
    cmd.current_dir(dir);
  }
  cmd
    .output()
    .ok()
    .filter(|o| o.status.success())
    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// What a finished child left.
#[derive(Debug, Clone)]
pub struct ProcessOutput {
  /// Exit code (`None` if killed by a signal).
  pub code: Option<i32>,
  /// The last lines of stdout and stderr, interleaved as they came.
  pub lines: Vec<String>,
  /// All of stdout (only when captured).
  pub stdout: String,
}

impl ProcessOutput {
  /// Whether it exited with 0.
  pub fn success(&self) -> bool {
    self.code == Some(0)
  }

  /// The last `n` output lines, joined.
  pub fn tail(&self, n: usize) -> String {
    let start = self.lines.len().saturating_sub(n);
    self.lines[start..].join("\n")
  }
}

/// Why a child could not be run to the end.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
  /// The program could not be started.
  #[error("could not start `{program}`: {source}")]
  Spawn {
    /// The program.
    program: String,
    /// Why.
    #[source]
    source: std::io::Error,
  },
  /// The build was cancelled; the child was stopped.
  #[error("cancelled")]
  Cancelled,
  /// Waiting for the child failed.
  #[error("waiting for `{program}`: {source}")]
  Wait {
    /// The program.
    program: String,
    /// Why.
    #[source]
    source: std::io::Error,
  },
}

/// A command to run.
#[derive(Debug, Clone)]
pub struct Cmd {
  program: String,
  args: Vec<String>,
  cwd: Option<std::path::PathBuf>,
  env: Vec<(String, String)>,
  capture_stdout: bool,
}

impl Cmd {
  /// A command running `program`.
  pub fn new(program: impl Into<String>) -> Self {
    Cmd { program: program.into(), args: vec![], cwd: None, env: vec![], capture_stdout: false }
  }

  /// Adds arguments.
  pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
    self.args.extend(args.into_iter().map(Into::into));
    self
  }

  /// Adds one argument.
  pub fn arg(mut self, a: impl Into<String>) -> Self {
    self.args.push(a.into());
    self
  }

  /// Adds a path argument.
  pub fn arg_path(mut self, p: &Path) -> Self {
    self.args.push(p.to_string_lossy().into_owned());
    self
  }

  /// Sets the working directory.
  pub fn cwd(mut self, dir: &Path) -> Self {
    self.cwd = Some(dir.to_path_buf());
    self
  }

  /// Sets an environment variable.
  pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
    self.env.push((k.into(), v.into()));
    self
  }

  /// Keeps stdout whole in [`ProcessOutput::stdout`] instead of streaming it as log lines.
  pub fn capture_stdout(mut self) -> Self {
    self.capture_stdout = true;
    self
  }

  /// The command line, for messages.
  pub fn display(&self) -> String {
    std::iter::once(self.program.as_str())
      .chain(self.args.iter().map(String::as_str))
      .collect::<Vec<_>>()
      .join(" ")
  }

  /// Runs it to the end; each output line goes to `on_line`. Cancellation stops the whole process group.
  pub async fn run(
    &self,
    on_line: &(dyn Fn(&str) + Send + Sync),
    cancel: &CancellationToken,
  ) -> Result<ProcessOutput, ProcessError> {
    let mut cmd = Command::new(&self.program);
    cmd.args(&self.args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.kill_on_drop(true).process_group(0);
    if let Some(d) = &self.cwd {
      cmd.current_dir(d);
    }
    for (k, v) in &self.env {
      cmd.env(k, v);
    }
    let mut child = cmd
      .spawn()
      .map_err(|source| ProcessError::Spawn { program: self.program.clone(), source })?;
    let pid = child.id();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let lines = std::sync::Mutex::new(std::collections::VecDeque::<String>::new());
    let push = |l: String| {
      on_line(&l);
      if let Ok(mut q) = lines.lock() {
        if q.len() == KEEP_LINES {
          q.pop_front();
        }
        q.push_back(l);
      }
    };
    let mut captured = String::new();
    let read_out = async {
      if let Some(out) = stdout {
        let mut r = BufReader::new(out).lines();
        while let Ok(Some(l)) = r.next_line().await {
          if self.capture_stdout {
            captured.push_str(&l);
            captured.push('\n');
          } else {
            push(l);
          }
        }
      }
    };
    let read_err = async {
      if let Some(err) = stderr {
        let mut r = BufReader::new(err).lines();
        while let Ok(Some(l)) = r.next_line().await {
          push(l);
        }
      }
    };
    let status = {
      let work = async {
        tokio::join!(read_out, read_err);
        child.wait().await
      };
      tokio::pin!(work);
      tokio::select! {
        s = &mut work => s,
        _ = cancel.cancelled() => {
          kill_group(pid, libc::SIGTERM);
          if tokio::time::timeout(GRACE, &mut work).await.is_err() {
            kill_group(pid, libc::SIGKILL);
            let _ = work.await;
          }
          return Err(ProcessError::Cancelled);
        }
      }
    };
    let status =
      status.map_err(|source| ProcessError::Wait { program: self.program.clone(), source })?;
    let lines = lines.into_inner().map(Vec::from).unwrap_or_default();
    Ok(ProcessOutput { code: status.code(), lines, stdout: captured })
  }
}

fn kill_group(pid: Option<u32>, sig: libc::c_int) {
  if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
    // SAFETY: kill(2) with a negative pid signals the process group the child leads; no memory involved.
    unsafe {
      libc::kill(-pid, sig);
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[tokio::test]
  async fn streams_lines_and_exit_code() {
    let seen = std::sync::Mutex::new(Vec::new());
    let out = Cmd::new("sh")
      .args(["-c", "echo one; echo two >&2; exit 3"])
      .run(&|l| seen.lock().unwrap().push(l.to_string()), &CancellationToken::new())
      .await
      .unwrap();
    assert_eq!(out.code, Some(3));
    let mut s = seen.into_inner().unwrap();
    s.sort();
    assert_eq!(s, ["one", "two"]);
  }

  #[tokio::test]
  async fn cancel_kills_the_whole_group() {
    let dir = std::env::temp_dir().join(format!("farm-proc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pidfile = dir.join("grandchild.pid");
    let token = CancellationToken::new();
    let t2 = token.clone();
    tokio::spawn(async move {
      tokio::time::sleep(Duration::from_millis(300)).await;
      t2.cancel();
    });
    let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
    let r = Cmd::new("sh").args(["-c", &script]).run(&|_| {}, &token).await;
    assert!(matches!(r, Err(ProcessError::Cancelled)));
    let gpid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    // The grandchild got SIGTERM with its group; give the kernel a moment, then it must be gone.
    let mut alive = true;
    for _ in 0..50 {
      let st = std::fs::read_to_string(format!("/proc/{gpid}/stat")).unwrap_or_default();
      alive = !st.is_empty() && !st.contains(") Z ");
      if !alive {
        break;
      }
      std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive, "grandchild {gpid} survived cancellation");
    let _ = std::fs::remove_dir_all(dir);
  }
}
