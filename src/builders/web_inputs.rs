//! What a Vite app's build and type check read: the app's folder (minus ignored files and
//! outputs), the env files of the mode (even when `.gitignore` hides them), the lockfile(s) and
//! `package.json` up to the workspace root, shared configs between the app and the project root,
//! and the files its `vite.config.*` imports from outside the app.

use super::io::{IoContext, Reads};
use crate::config::{resolve, Environment, FrontendConfig};
use crate::plan::TaskKind;
use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// Lockfiles of the package managers Vite apps use.
pub const LOCKFILES: &[&str] = &[
  "package-lock.json",
  "npm-shrinkwrap.json",
  "pnpm-lock.yaml",
  "pnpm-workspace.yaml",
  "yarn.lock",
  "bun.lock",
  "bun.lockb",
];

/// Config files a build may read from a folder above the app (TypeScript `extends`, PostCSS and
/// Tailwind lookups walk up to the project root).
const SHARED_CONFIG_PREFIXES: &[&str] =
  &["tsconfig", "postcss.config.", "tailwind.config.", ".postcssrc", ".browserslistrc", ".npmrc"];

/// Vite's config file names, in the order Vite tries them.
const VITE_CONFIGS: &[&str] = &[
  "vite.config.js",
  "vite.config.mjs",
  "vite.config.ts",
  "vite.config.cjs",
  "vite.config.mts",
  "vite.config.cts",
];

/// The Vite mode a build runs in (`development` or `production`).
pub fn vite_mode(env: Environment) -> &'static str {
  if env == Environment::Development {
    "development"
  } else {
    "production"
  }
}

/// The reads of a frontend task (see the module doc). `env`, `tools` and `config` are left for the
/// caller.
pub fn web_reads(cx: &IoContext<'_>, fe: &FrontendConfig) -> Reads {
  let web = resolve(cx.root, &fe.root);
  let mut files = BTreeSet::new();
  let mode = vite_mode(cx.config.environment);
  for name in
    [".env".to_string(), ".env.local".into(), format!(".env.{mode}"), format!(".env.{mode}.local")]
  {
    files.insert(web.join(name));
  }
  files.extend(workspace_files(&web, cx.root));
  for cfg in VITE_CONFIGS.iter().map(|n| web.join(n)).filter(|p| p.is_file()) {
    for dep in config_imports(&cfg) {
      if !dep.starts_with(&web) {
        files.insert(dep);
      }
    }
  }
  let mut outputs_of = Vec::new();
  if let Some(tf) = super::types::types_file(cx.config) {
    let p = resolve(cx.root, &tf);
    if !p.starts_with(&web) {
      files.insert(p);
    }
    outputs_of.push(TaskKind::Types);
  }
  Reads {
    root: web.clone(),
    globs: cx.input_globs(vec!["**".into()]),
    gitignore: true,
    ignore: vec![cx.output_dir(), cx.cache_dir(), web.join("dist")],
    files: files.into_iter().collect(),
    outputs_of,
    ..Reads::default()
  }
}

/// Lockfiles, workspace manifests and shared configs in the folders above `web`: up to the first
/// folder holding a lockfile or a `.git` (the workspace root), and at least up to `project_root`.
/// Folders above `project_root` count only when such a workspace root is found among them: a
/// project in no workspace is not keyed on what happens to lie above it (a home directory's
/// `.npmrc` or `package.json`), which differs from machine to machine.
pub fn workspace_files(web: &Path, project_root: &Path) -> Vec<PathBuf> {
  let has_lock = |d: &Path| LOCKFILES.iter().any(|l| d.join(l).is_file());
  let mut out = Vec::new();
  // Files of the folders above `project_root`, kept once a workspace root is found.
  let mut above = Vec::new();
  let mut found = has_lock(web);
  for d in web.ancestors().skip(1) {
    let inside = d.starts_with(project_root);
    if !inside && found {
      break;
    }
    let list = if inside { &mut out } else { &mut above };
    list.extend(LOCKFILES.iter().chain(["package.json"].iter()).map(|l| d.join(l)));
    if let Ok(rd) = std::fs::read_dir(d) {
      let mut shared: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| {
          let n = e.file_name();
          let n = n.to_string_lossy();
          SHARED_CONFIG_PREFIXES.iter().any(|p| n.starts_with(p))
        })
        .map(|e| e.path())
        .collect();
      shared.sort();
      list.extend(shared);
    }
    found |= has_lock(d);
    let git = d.join(".git").exists();
    if !inside && (found || git) {
      out.append(&mut above);
    }
    if !inside && git {
      break;
    }
  }
  out
}

/// Files a JS/TS config imports with relative specifiers (`import … from './x'`, `import('./x')`,
/// `require('./x')`), resolved as Node/Vite would (extensions, `index.*`), transitively.
pub fn config_imports(config: &Path) -> Vec<PathBuf> {
  let mut seen = BTreeSet::new();
  let mut stack = vec![config.to_path_buf()];
  while let Some(file) = stack.pop() {
    if seen.len() > 200 {
      break;
    }
    let Ok(text) = std::fs::read_to_string(&file) else { continue };
    let Some(dir) = file.parent() else { continue };
    for spec in relative_specifiers(&text) {
      if let Some(dep) = resolve_module(dir, &spec) {
        if seen.insert(dep.clone()) && is_script(&dep) {
          stack.push(dep);
        }
      }
    }
  }
  seen.into_iter().collect()
}

fn is_script(p: &Path) -> bool {
  p.extension()
    .and_then(|e| e.to_str())
    .is_some_and(|e| matches!(e, "js" | "mjs" | "cjs" | "ts" | "mts" | "cts" | "jsx" | "tsx"))
}

/// The string literals that follow `from`, `import(` or `require(` and start with `./` or `../`.
fn relative_specifiers(text: &str) -> Vec<String> {
  let mut out = Vec::new();
  let b = text.as_bytes();
  let mut i = 0;
  while i < b.len() {
    let rest = &text[i..];
    let skip = if rest.starts_with("from") {
      4
    } else if rest.starts_with("import(") || rest.starts_with("import (") {
      rest.find('(').map_or(0, |p| p + 1)
    } else if rest.starts_with("require(") {
      8
    } else if rest.starts_with("import") {
      6
    } else {
      0
    };
    if skip == 0 {
      i += rest.chars().next().map_or(1, char::len_utf8);
      continue;
    }
    let after = rest[skip..].trim_start();
    if let Some(q) = after.chars().next().filter(|c| matches!(c, '\'' | '"' | '`')) {
      if let Some(end) = after[1..].find(q) {
        let lit = &after[1..1 + end];
        if lit.starts_with("./") || lit.starts_with("../") {
          out.push(lit.to_string());
        }
      }
    }
    i += skip;
  }
  out
}

/// Resolves a relative module specifier the way Node and Vite do for config files.
fn resolve_module(dir: &Path, spec: &str) -> Option<PathBuf> {
  let base = normalize(&dir.join(spec));
  let exts = ["", ".ts", ".mts", ".cts", ".js", ".mjs", ".cjs", ".json", ".tsx", ".jsx"];
  for e in exts {
    let p = PathBuf::from(format!("{}{e}", base.display()));
    if p.is_file() {
      return Some(p);
    }
  }
  // `./x.js` written for a TypeScript source `./x.ts`.
  if let Some(stem) = spec.strip_suffix(".js") {
    for e in [".ts", ".tsx"] {
      let p = normalize(&dir.join(format!("{stem}{e}")));
      if p.is_file() {
        return Some(p);
      }
    }
  }
  for index in ["index.ts", "index.js", "index.mjs", "index.json"] {
    let p = base.join(index);
    if p.is_file() {
      return Some(p);
    }
  }
  None
}

/// `p` with `.` and `..` removed lexically (as Node's `path.resolve()` does).
pub fn normalize(p: &Path) -> PathBuf {
  let mut out = PathBuf::new();
  for c in p.components() {
    match c {
      Component::ParentDir => {
        out.pop();
      }
      Component::CurDir => {}
      other => out.push(other),
    }
  }
  out
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn finds_relative_imports_of_a_config() {
    let d = tempfile::tempdir().unwrap();
    let web = d.path().join("apps/web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::create_dir_all(d.path().join("shared")).unwrap();
    std::fs::write(
      web.join("vite.config.ts"),
      "import { defineConfig } from 'vite'\nimport base from '../../shared/base'\nconst x = require(\"./local.cjs\")\nexport default defineConfig(base)\n",
    )
    .unwrap();
    std::fs::write(web.join("local.cjs"), "module.exports = {}").unwrap();
    std::fs::write(
      d.path().join("shared/base.ts"),
      "import t from './theme.json'\nexport default {}",
    )
    .unwrap();
    std::fs::write(d.path().join("shared/theme.json"), "{}").unwrap();
    let got = config_imports(&web.join("vite.config.ts"));
    let rel: Vec<String> = got
      .iter()
      .map(|p| p.strip_prefix(d.path()).unwrap().to_string_lossy().into_owned())
      .collect();
    assert_eq!(rel, ["apps/web/local.cjs", "shared/base.ts", "shared/theme.json"]);
  }

  #[test]
  fn nothing_above_a_project_in_no_workspace() {
    // No lockfile or `.git` in the project nor above it (a temp dir): what lies above it, such as
    // a home directory's `.npmrc`, is not read.
    let d = tempfile::tempdir().unwrap();
    let ancestors_have_a_workspace = d
      .path()
      .ancestors()
      .any(|a| a.join(".git").exists() || LOCKFILES.iter().any(|l| a.join(l).is_file()));
    assert!(
      !ancestors_have_a_workspace,
      "the temp dir {} is inside a workspace",
      d.path().display()
    );
    let home = d.path().join("home");
    let root = home.join("projects/app");
    let web = root.join("web");
    std::fs::create_dir_all(&web).unwrap();
    for f in [".npmrc", "package.json", "tsconfig.json"] {
      std::fs::write(home.join(f), "{}").unwrap();
    }
    std::fs::write(root.join("package.json"), "{}").unwrap();
    let got: Vec<PathBuf> =
      workspace_files(&web, &root).into_iter().filter(|p| p.is_file()).collect();
    assert_eq!(got, [root.join("package.json")]);
    // A lockfile above makes that folder the workspace root: it and the folders between count.
    std::fs::write(home.join("package-lock.json"), "{}").unwrap();
    let got: Vec<PathBuf> =
      workspace_files(&web, &root).into_iter().filter(|p| p.is_file()).collect();
    assert_eq!(
      got,
      [
        root.join("package.json"),
        home.join("package-lock.json"),
        home.join("package.json"),
        home.join(".npmrc"),
        home.join("tsconfig.json")
      ]
    );
  }

  #[test]
  fn lockfiles_and_shared_configs_up_to_the_workspace_root() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let web = root.join("apps/web");
    std::fs::create_dir_all(&web).unwrap();
    for f in ["package-lock.json", "package.json", "tsconfig.base.json", "README.md"] {
      std::fs::write(root.join(f), "{}").unwrap();
    }
    std::fs::write(web.join("package.json"), "{}").unwrap();
    let got: Vec<PathBuf> =
      workspace_files(&web, root).into_iter().filter(|p| p.is_file()).collect();
    assert_eq!(
      got,
      [root.join("package-lock.json"), root.join("package.json"), root.join("tsconfig.base.json")]
    );
  }
}
