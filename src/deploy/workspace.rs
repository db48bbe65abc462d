//! Finding the lockfile a frontend installs with when it sits at the root of an npm / pnpm / yarn /
//! bun workspace rather than in the frontend directory (e.g. `package-lock.json` at the project
//! root, the frontend in `apps/web`), and the workspace manifests a frozen install of it reads.
//!
//! A workspace root is marked by `pnpm-workspace.yaml` (`packages:` patterns; for a
//! `pnpm-lock.yaml`) or by `package.json` `workspaces` (an array of patterns, or Yarn 1's
//! `{ "packages": [...] }`; for the other lockfiles). Patterns are globs relative to the root
//! (`*` stays within one folder, `**` crosses folders, a leading `!` excludes); a member is a
//! folder matching them that has a `package.json`.

use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::context::{JsWorkspace, Lockfile, PackageManager};

/// Folders never searched for workspace members.
const SKIPPED_DIRS: &[&str] = &["node_modules", "bower_components"];

/// How deep a pattern with `**` is followed when listing members.
const MAX_MEMBER_DEPTH: usize = 12;

/// Why the frontend has no lockfile to install with (the development image then has no `web-dev`
/// stage).
#[derive(Debug, thiserror::Error)]
pub enum NoLockfile {
  /// Neither the frontend directory nor a folder above it (up to the project root) has a lockfile.
  #[error(
    "{frontend} has no lockfile (package-lock.json, pnpm-lock.yaml, yarn.lock, bun.lock), nor has a \
     workspace root above it up to the project root (create one, e.g. `npm install`, and rebuild)"
  )]
  Missing {
    /// The frontend directory.
    frontend: PathBuf,
  },
  /// The nearest lockfile above the frontend is in a folder that is not a workspace root taking in
  /// the frontend, so it does not lock the frontend's dependencies.
  #[error(
    "the nearest lockfile above {frontend} is {lockfile}, but {frontend} is not a member of a workspace \
     rooted there ({why}); add it to the workspace or create a lockfile in {frontend}"
  )]
  NotAMember {
    /// The frontend directory.
    frontend: PathBuf,
    /// The lockfile found.
    lockfile: PathBuf,
    /// What is missing (no workspace marker, or no pattern matching the frontend).
    why: String,
  },
  /// A workspace manifest could not be read or parsed.
  #[error("reading the workspace manifest {path}: {message}")]
  Manifest {
    /// The manifest (`package.json` or `pnpm-workspace.yaml`).
    path: PathBuf,
    /// The I/O or parse error.
    message: String,
  },
}

/// Whether `yarn_lock` is Yarn 2+'s (a `__metadata:` entry near its top) rather than Yarn 1's.
pub fn is_yarn_berry(yarn_lock: &Path) -> bool {
  use std::io::Read;
  let mut head = Vec::with_capacity(4096);
  let Ok(f) = std::fs::File::open(yarn_lock) else { return false };
  if f.take(4096).read_to_end(&mut head).is_err() {
    return false;
  }
  String::from_utf8_lossy(&head).lines().any(|l| l.trim_end() == "__metadata:")
}

/// `path` with `.` and `..` components resolved lexically.
fn normalize(path: &Path) -> PathBuf {
  let mut out = PathBuf::new();
  for c in path.components() {
    match c {
      Component::CurDir => {}
      Component::ParentDir => {
        if !out.pop() {
          out.push("..");
        }
      }
      other => out.push(other),
    }
  }
  out
}

/// `/`-separated `path` relative to `base` (`.` when equal); `None` when it is not below `base`.
fn rel_str(path: &Path, base: &Path) -> Option<String> {
  let rel = path.strip_prefix(base).ok()?;
  let parts: Vec<String> =
    rel.components().map(|c| c.as_os_str().to_string_lossy().into()).collect();
  Some(if parts.is_empty() { ".".into() } else { parts.join("/") })
}

fn read_json(path: &Path) -> Result<serde_json::Value, NoLockfile> {
  let err = |message: String| NoLockfile::Manifest { path: path.to_path_buf(), message };
  let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
  serde_json::from_str(&text).map_err(|e| err(e.to_string()))
}

/// The workspace patterns declared at `root` for `manager`'s lockfile, with the marker file;
/// `None` when `root` is not a workspace root.
fn workspace_patterns(
  root: &Path,
  manager: PackageManager,
) -> Result<Option<(&'static str, Vec<String>)>, NoLockfile> {
  let strings = |v: &serde_json::Value| -> Vec<String> {
    v.as_array()
      .map(|a| a.iter().filter_map(|p| p.as_str().map(String::from)).collect())
      .unwrap_or_default()
  };
  if manager == PackageManager::Pnpm {
    let path = root.join("pnpm-workspace.yaml");
    if !path.is_file() {
      return Ok(None);
    }
    let err = |message: String| NoLockfile::Manifest { path: path.clone(), message };
    let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
    let yaml: serde_json::Value = serde_yaml::from_str(&text).map_err(|e| err(e.to_string()))?;
    return Ok(Some(("pnpm-workspace.yaml", strings(&yaml["packages"]))));
  }
  let path = root.join("package.json");
  if !path.is_file() {
    return Ok(None);
  }
  let pkg = read_json(&path)?;
  Ok(match &pkg["workspaces"] {
    serde_json::Value::Null => None,
    serde_json::Value::Object(o) => {
      Some(("package.json", o.get("packages").map(strings).unwrap_or_default()))
    }
    v => Some(("package.json", strings(v))),
  })
}

/// Include and exclude glob sets of workspace patterns.
fn compile(patterns: &[String], marker: &Path) -> Result<(GlobSet, GlobSet), NoLockfile> {
  let mut include = GlobSetBuilder::new();
  let mut exclude = GlobSetBuilder::new();
  for p in patterns {
    let (set, p) = match p.strip_prefix('!') {
      Some(rest) => (&mut exclude, rest),
      None => (&mut include, p.as_str()),
    };
    let p = p.trim().trim_start_matches("./").trim_end_matches('/');
    if p.is_empty() {
      continue;
    }
    let glob = GlobBuilder::new(p).literal_separator(true).build().map_err(|e| {
      NoLockfile::Manifest { path: marker.to_path_buf(), message: format!("pattern {p:?}: {e}") }
    })?;
    set.add(glob);
  }
  let build = |b: GlobSetBuilder| {
    b.build()
      .map_err(|e| NoLockfile::Manifest { path: marker.to_path_buf(), message: e.to_string() })
  };
  Ok((build(include)?, build(exclude)?))
}

/// Member folders of the workspace at `root` (relative, `/`-separated, sorted): folders matching
/// the patterns that have a `package.json`. `node_modules` and hidden folders are not searched.
fn members(root: &Path, patterns: &[String], include: &GlobSet, exclude: &GlobSet) -> Vec<String> {
  let depth = if patterns.iter().any(|p| p.contains("**")) {
    MAX_MEMBER_DEPTH
  } else {
    patterns
      .iter()
      .map(|p| p.trim_start_matches('!').trim_start_matches("./").trim_end_matches('/'))
      .map(|p| p.split('/').filter(|s| !s.is_empty()).count())
      .max()
      .unwrap_or(0)
  };
  let mut out = Vec::new();
  let mut stack = vec![(root.to_path_buf(), String::new(), 0usize)];
  while let Some((dir, rel, d)) = stack.pop() {
    if d >= depth {
      continue;
    }
    let Ok(rd) = std::fs::read_dir(&dir) else { continue };
    for e in rd.flatten() {
      let name = e.file_name().to_string_lossy().into_owned();
      if name.starts_with('.') || SKIPPED_DIRS.contains(&name.as_str()) {
        continue;
      }
      if !e.file_type().is_ok_and(|t| t.is_dir()) {
        continue;
      }
      let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
      if include.is_match(&child)
        && !exclude.is_match(&child)
        && e.path().join("package.json").is_file()
      {
        out.push(child.clone());
      }
      stack.push((e.path(), child, d + 1));
    }
  }
  out.sort();
  out
}

/// See [`Lockfile::find`].
pub fn find_lockfile(project_root: &Path, frontend_dir: &Path) -> Result<Lockfile, NoLockfile> {
  let project_root = normalize(project_root);
  let frontend = normalize(frontend_dir);
  if let Some(l) = Lockfile::detect(&frontend) {
    return Ok(l);
  }
  let missing = || NoLockfile::Missing { frontend: frontend_dir.to_path_buf() };
  if !frontend.starts_with(&project_root) {
    return Err(missing());
  }
  for root in frontend.ancestors().skip(1) {
    if !root.starts_with(&project_root) {
      break;
    }
    let Some(lock) = Lockfile::detect(root) else { continue };
    let not_member = |why: String| NoLockfile::NotAMember {
      frontend: frontend_dir.to_path_buf(),
      lockfile: root.join(&lock.file),
      why,
    };
    let member_rel = rel_str(&frontend, root).ok_or_else(missing)?;
    let Some((marker, patterns)) = workspace_patterns(root, lock.manager)? else {
      return Err(not_member(match lock.manager {
        PackageManager::Pnpm => "no pnpm-workspace.yaml there".into(),
        _ => "no `workspaces` in a package.json there".into(),
      }));
    };
    let (include, exclude) = compile(&patterns, &root.join(marker))?;
    if !include.is_match(&member_rel) || exclude.is_match(&member_rel) {
      return Err(not_member(format!("no pattern of its {marker} matches {member_rel}")));
    }
    let member_name = read_json(&frontend.join("package.json"))
      .ok()
      .and_then(|p| p["name"].as_str().map(String::from));
    let mut manifests = vec!["package.json".to_string()];
    if marker == "pnpm-workspace.yaml" {
      manifests.push(marker.into());
    }
    manifests.extend(
      members(root, &patterns, &include, &exclude).into_iter().map(|m| format!("{m}/package.json")),
    );
    manifests.sort();
    manifests.dedup();
    return Ok(Lockfile {
      workspace: Some(JsWorkspace {
        root_rel: rel_str(root, &project_root).unwrap_or_else(|| ".".into()),
        member_rel,
        member_name,
        manifests,
      }),
      ..lock
    });
  }
  Err(missing())
}

#[cfg(test)]
mod tests {
  use super::*;

  fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
  }

  #[test]
  fn a_lockfile_in_the_frontend_directory_is_not_a_workspace() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write(r, "package.json", r#"{"workspaces": ["apps/*"]}"#);
    write(r, "package-lock.json", "{}");
    write(r, "apps/web/package.json", r#"{"name": "web"}"#);
    write(r, "apps/web/pnpm-lock.yaml", "");
    let l = find_lockfile(r, &r.join("apps/web")).unwrap();
    assert_eq!(
      (l.file.as_str(), l.manager, l.workspace),
      ("pnpm-lock.yaml", PackageManager::Pnpm, None)
    );
  }

  #[test]
  fn npm_workspace_root_with_every_member_manifest() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write(
      r,
      "package.json",
      r#"{"name": "mono", "workspaces": ["apps/*", "packages/**", "!packages/skip"]}"#,
    );
    write(r, "package-lock.json", "{}");
    write(r, "apps/web/package.json", r#"{"name": "@mono/web"}"#);
    write(r, "apps/api/main.py", "");
    write(r, "packages/ui/package.json", "{}");
    write(r, "packages/ui/node_modules/x/package.json", "{}");
    write(r, "packages/nested/lib/package.json", "{}");
    write(r, "packages/skip/package.json", "{}");
    write(r, "tools/package.json", "{}");
    let l = find_lockfile(r, &r.join("apps/./web")).unwrap();
    assert_eq!((l.file.as_str(), l.manager), ("package-lock.json", PackageManager::Npm));
    let ws = l.workspace.unwrap();
    assert_eq!(ws.root_rel, ".");
    assert_eq!(ws.member_rel, "apps/web");
    assert_eq!(ws.member_name.as_deref(), Some("@mono/web"));
    assert_eq!(
      ws.manifests,
      [
        "apps/web/package.json",
        "package.json",
        "packages/nested/lib/package.json",
        "packages/ui/package.json"
      ]
    );
    assert_eq!(ws.path("package.json"), "package.json");
  }

  #[test]
  fn pnpm_and_yarn_workspaces_below_the_project_root() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write(r, "frontend/pnpm-workspace.yaml", "packages:\n  - 'apps/*'\n");
    write(r, "frontend/pnpm-lock.yaml", "lockfileVersion: '9.0'\n");
    write(r, "frontend/package.json", "{}");
    write(r, "frontend/apps/web/package.json", r#"{"name": "web"}"#);
    let l = find_lockfile(r, &r.join("frontend/apps/web")).unwrap();
    assert_eq!(l.manager, PackageManager::Pnpm);
    let ws = l.workspace.unwrap();
    assert_eq!((ws.root_rel.as_str(), ws.member_rel.as_str()), ("frontend", "apps/web"));
    assert_eq!(ws.manifests, ["apps/web/package.json", "package.json", "pnpm-workspace.yaml"]);
    assert_eq!(ws.path("pnpm-workspace.yaml"), "frontend/pnpm-workspace.yaml");

    // Yarn 1's object form; a yarn.lock with __metadata is Yarn 2+'s.
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write(r, "package.json", r#"{"workspaces": {"packages": ["web"]}}"#);
    write(r, "yarn.lock", "# yarn lockfile v1\n");
    write(r, "web/package.json", "{}");
    let l = find_lockfile(r, &r.join("web")).unwrap();
    assert_eq!(l.manager, PackageManager::Yarn);
    assert_eq!(l.workspace.unwrap().member_name, None);
    write(
      r,
      "yarn.lock",
      "# This file is generated by running \"yarn install\"\n\n__metadata:\n  version: 8\n",
    );
    assert_eq!(find_lockfile(r, &r.join("web")).unwrap().manager, PackageManager::YarnBerry);
  }

  #[test]
  fn a_lockfile_above_that_is_no_workspace_of_the_frontend_is_not_used() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write(r, "apps/web/package.json", "{}");
    assert!(matches!(find_lockfile(r, &r.join("apps/web")), Err(NoLockfile::Missing { .. })));
    write(r, "package-lock.json", "{}");
    write(r, "package.json", r#"{"devDependencies": {}}"#);
    let e = find_lockfile(r, &r.join("apps/web")).unwrap_err();
    assert!(e.to_string().contains("no `workspaces`"), "{e}");
    write(r, "package.json", r#"{"workspaces": ["packages/*"]}"#);
    let e = find_lockfile(r, &r.join("apps/web")).unwrap_err();
    assert!(e.to_string().contains("no pattern of its package.json matches apps/web"), "{e}");
    // pnpm reads pnpm-workspace.yaml, not package.json's `workspaces`.
    std::fs::remove_file(r.join("package-lock.json")).unwrap();
    write(r, "pnpm-lock.yaml", "");
    write(r, "package.json", r#"{"workspaces": ["apps/*"]}"#);
    let e = find_lockfile(r, &r.join("apps/web")).unwrap_err();
    assert!(e.to_string().contains("no pnpm-workspace.yaml"), "{e}");
    write(r, "pnpm-workspace.yaml", "packages: [");
    assert!(matches!(find_lockfile(r, &r.join("apps/web")), Err(NoLockfile::Manifest { .. })));
    // Above the project root is never searched.
    let inner = r.join("apps");
    assert!(matches!(find_lockfile(&inner, &inner.join("web")), Err(NoLockfile::Missing { .. })));
  }
}
