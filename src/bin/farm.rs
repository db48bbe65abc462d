//! The native `farm` executable: answers an all-cached `farm build` without Node, hands every
//! other command to the JavaScript CLI. See `farm_build_native::cli`.

use farm_build_native::cli::{self, node::Node, Action};
use std::os::unix::process::CommandExt;

fn main() {
  let raw: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
  // Read once, then removed: the build's own processes (a command task running `farm`) must not
  // inherit them. Still single-threaded here.
  let node = Node::locate();
  let handback = std::env::var_os(cli::HANDBACK_ENV_VAR).is_some();
  std::env::remove_var(cli::HANDBACK_ENV_VAR);
  if let Some(parent) = std::env::var(cli::PARENT_ENV_VAR).ok().and_then(|p| p.parse().ok()) {
    farm_build_native::run::process::follow_parent(parent);
  }
  std::env::remove_var(cli::PARENT_ENV_VAR);
  std::env::remove_var(cli::node::NODE_ENV_VAR);

  let action = match raw.iter().map(|a| a.clone().into_string()).collect::<Result<Vec<_>, _>>() {
    Ok(args) => cli::dispatch(&args, node.as_ref()),
    // Arguments that are not UTF-8: the JavaScript CLI takes them as they are.
    Err(_) => Action::HandOver("arguments are not UTF-8".into()),
  };
  let why = match action {
    Action::Exit(code) => {
      if cli::debug_enabled() {
        eprintln!("farm: native: answered (exit {code})");
      }
      std::process::exit(code)
    }
    Action::HandOver(why) => why,
  };
  if cli::debug_enabled() {
    eprintln!("farm: native: handing over to Node: {why}");
  }
  if handback {
    std::process::exit(cli::HANDBACK_EXIT);
  }
  let exe = std::env::current_exe().and_then(|e| e.canonicalize());
  let Some(main_js) = exe.ok().as_deref().and_then(cli::js_cli) else {
    eprintln!("farm: cannot find the JavaScript CLI (js/cli/main.mjs) beside this executable; reinstall @farm/build-native");
    std::process::exit(2)
  };
  let Some(node) = node else {
    eprintln!("farm: Node.js (`node`) is not on PATH; farm needs Node.js 20.19 or newer");
    std::process::exit(2)
  };
  let err = std::process::Command::new(&node.path).arg(&main_js).args(&raw).exec();
  eprintln!("farm: could not run {} {}: {err}", node.path.display(), main_js.display());
  std::process::exit(2)
}
