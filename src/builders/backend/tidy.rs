//! Import tidying with ruff on the output copy: unused imports removed (F401), imports sorted (I).
//!
//! Only the staging copy is ever passed to ruff; the user's sources are never rewritten. ruff reads
//! the user's own configuration (copied `pyproject.toml`/`ruff.toml`, or one above the output), so
//! first-party modules and `# noqa: F401` markers are honoured.

use crate::run::process::{Cmd, ProcessError};
use std::path::Path;
use tokio_util::sync::CancellationToken;

/// How to run ruff: the program and the arguments before ruff's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruff {
  program: String,
  prefix: Vec<String>,
  /// `ruff x.y.z`, as it reports itself.
  pub version: String,
}

impl Ruff {
  /// Finds ruff: `<python> -m ruff`, else `ruff` on `PATH`. `None` when neither runs.
  pub async fn find(
    python: &str,
    cancel: &CancellationToken,
  ) -> Result<Option<Ruff>, ProcessError> {
    let candidates: [(&str, &[&str]); 2] = [(python, &["-m", "ruff"]), ("ruff", &[])];
    for (program, prefix) in candidates {
      let out = Cmd::new(program).args(prefix.iter().copied()).args(["--version"]);
      match out.capture_stdout().run(&|_| {}, cancel).await {
        Ok(o) if o.success() && o.stdout.starts_with("ruff ") => {
          return Ok(Some(Ruff {
            program: program.to_string(),
            prefix: prefix.iter().map(|s| s.to_string()).collect(),
            version: o.stdout.trim().to_string(),
          }));
        }
        Ok(_) | Err(ProcessError::Spawn { .. }) => {}
        Err(e) => return Err(e),
      }
    }
    Ok(None)
  }

  /// Runs `ruff check --select F401,I --fix` on `dir`; returns how many fixes ruff applied.
  pub async fn tidy(
    &self,
    dir: &Path,
    log: &(dyn Fn(&str) + Send + Sync),
    cancel: &CancellationToken,
  ) -> Result<usize, String> {
    let cmd = Cmd::new(&self.program)
      .args(self.prefix.iter().cloned())
      .args(["check", "--select", "F401,I", "--fix", "--exit-zero", "--no-cache"])
      .args(["--output-format", "concise", "--force-exclude"])
      .arg_path(dir)
      .cwd(dir);
    let out = cmd.run(log, cancel).await.map_err(|e| e.to_string())?;
    if !out.success() {
      return Err(format!(
        "`{}` failed (exit {}):\n{}",
        cmd.display(),
        out.code.map_or("signal".into(), |c| c.to_string()),
        out.tail(30)
      ));
    }
    Ok(fixed_count(&out.lines))
  }
}

/// The `N` of ruff's `Found M errors (N fixed, K remaining).` summary line (0 when absent).
fn fixed_count(lines: &[String]) -> usize {
  lines
    .iter()
    .find_map(|l| {
      let i = l.find(" fixed")?;
      let start = l[..i].rfind(|c: char| !c.is_ascii_digit()).map_or(0, |s| s + 1);
      l[start..i].parse().ok()
    })
    .unwrap_or(0)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn reads_the_fixed_count() {
    let l = |s: &str| vec![s.to_string()];
    assert_eq!(fixed_count(&l("Found 3 errors (3 fixed, 0 remaining).")), 3);
    assert_eq!(fixed_count(&l("Found 12 errors (10 fixed, 2 remaining).")), 10);
    assert_eq!(fixed_count(&l("All checks passed!")), 0);
  }
}
