//! The native `farm` executable (`src/bin/farm.rs`): it answers `farm build` without starting
//! Node when no task that runs JavaScript (the frontend, through Vite) has to run — those and
//! everything they depend on are cache hits (see [`build`]) — and hands every other command to the
//! JavaScript CLI (`js/cli/main.mjs`) by exec'ing Node on it with the same arguments.
//!
//! `FARM_NATIVE=0` makes it hand everything over; `FARM_DEBUG_NATIVE=1` prints on stderr which
//! path answered and why.

pub mod args;
pub mod build;
pub mod config;
pub mod doc;
pub mod format;
pub mod node;
pub mod output;
pub mod render;

use std::path::{Path, PathBuf};

/// Set by `bin/farm.mjs` when it runs this executable: instead of exec'ing a second Node, hand
/// back by exiting with [`HANDBACK_EXIT`] (nothing printed), and the calling Node goes on.
pub const HANDBACK_ENV_VAR: &str = "FARM_NATIVE_HANDBACK";
/// Set by `bin/farm.mjs` to its pid: this executable then dies with it (see
/// [`crate::run::process::follow_parent`]), so a killed `farm` leaves nothing running.
pub const PARENT_ENV_VAR: &str = "FARM_NATIVE_PARENT";
/// The exit code of a hand-back (see [`HANDBACK_ENV_VAR`]).
pub const HANDBACK_EXIT: i32 = 87;

/// What `main` must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
  /// Exit with this code (the command was answered).
  Exit(i32),
  /// Run the JavaScript CLI with the same arguments.
  HandOver(String),
}

/// Answers `args` (after the program name) natively if it can.
pub fn dispatch(args: &[String], node: Option<&node::Node>) -> Action {
  if std::env::var("FARM_NATIVE").is_ok_and(|v| v == "0") {
    return Action::HandOver("FARM_NATIVE=0".into());
  }
  match args.first().map(String::as_str) {
    Some("-v" | "--version") if args.len() == 1 => {
      println!("{}", env!("CARGO_PKG_VERSION"));
      Action::Exit(0)
    }
    Some("build") => match node {
      // Without Node the cache keys (they hold Node's version) cannot be computed.
      None => Action::HandOver("no Node.js found".into()),
      Some(node) => match build::build(&args[1..], node) {
        build::Answer::Exit(code) => Action::Exit(code),
        build::Answer::HandOver(why) => Action::HandOver(why),
      },
    },
    _ => Action::HandOver("not `farm build`".into()),
  }
}

/// The JavaScript CLI of the package this executable belongs to: the executable sits at the
/// package root (`farm-native`, from `npm run build`) or in the platform package
/// (`npm/<platform>/farm`, or `node_modules/@farm/build-native-<platform>/farm` beside
/// `node_modules/@farm/build-native`).
pub fn js_cli(exe: &Path) -> Option<PathBuf> {
  let dir = exe.parent()?;
  let up = |n: usize| (0..n).try_fold(dir, |d, _| d.parent());
  let candidates = [
    Some(dir.to_path_buf()),
    // npm/<platform>/farm in the repository.
    up(2).map(Path::to_path_buf),
    // node_modules/@farm/build-native-<platform>/farm beside node_modules/@farm/build-native.
    up(1).map(|d| d.join("build-native")),
    // node_modules/@farm/build-native/node_modules/@farm/build-native-<platform>/farm.
    up(3).map(Path::to_path_buf),
  ];
  candidates
    .into_iter()
    .flatten()
    .map(|d| d.join("js").join("cli").join("main.mjs"))
    .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn the_javascript_cli_is_found_from_each_place_the_executable_is_installed() {
    let t = tempfile::tempdir().unwrap();
    let pkg = t.path().join("node_modules/@farm/build-native");
    std::fs::create_dir_all(pkg.join("js/cli")).unwrap();
    std::fs::write(pkg.join("js/cli/main.mjs"), "").unwrap();
    let want = Some(pkg.join("js/cli/main.mjs"));
    for exe in [
      "farm-native",
      "npm/linux-x64-gnu/farm",
      "../build-native-linux-x64-gnu/farm",
      "node_modules/@farm/build-native-linux-x64-gnu/farm",
    ] {
      assert_eq!(js_cli(&config::normalize(&pkg.join(exe))), want, "{exe}");
    }
    assert_eq!(js_cli(&t.path().join("elsewhere/farm")), None);
  }
}

/// Whether `FARM_DEBUG_NATIVE` asks for the path taken on stderr.
pub fn debug_enabled() -> bool {
  std::env::var_os("FARM_DEBUG_NATIVE").is_some_and(|v| !v.is_empty() && v != "0")
}
