//! `.dockerignore` matching with Docker's semantics (moby/patternmatcher):
//! - lines starting with `#` are comments; blank lines are skipped; patterns are trimmed, cleaned
//!   (`./a/../b` → `b`) and a leading `/` is dropped: patterns match from the context root (unlike
//!   `.gitignore`, `node_modules` only matches at the root; use `**/node_modules`);
//! - `*` and `?` do not cross `/`, `**` matches any number of directories, `[...]` classes, `\` escapes;
//! - a path is excluded when a pattern matches it or one of its parent directories;
//! - `!pattern` re-includes; the last matching pattern wins.

use globset::{GlobBuilder, GlobMatcher};

use super::error::DockerError;

#[derive(Debug, Clone)]
struct Pattern {
  text: String,
  exclusion: bool,
  glob: GlobMatcher,
}

/// A compiled list of `.dockerignore` patterns.
#[derive(Debug, Clone, Default)]
pub struct IgnoreMatcher {
  patterns: Vec<Pattern>,
}

/// Lexically cleans a `/`-separated path like Go's `filepath.Clean` (relative result).
fn clean(p: &str) -> String {
  let mut parts: Vec<&str> = Vec::new();
  let absolute = p.starts_with('/');
  for c in p.split('/') {
    match c {
      "" | "." => {}
      ".." => {
        if parts.last().is_some_and(|l| *l != "..") {
          parts.pop();
        } else if !absolute {
          parts.push("..");
        }
      }
      other => parts.push(other),
    }
  }
  let joined = parts.join("/");
  if absolute {
    format!("/{joined}")
  } else if joined.is_empty() {
    ".".to_string()
  } else {
    joined
  }
}

impl IgnoreMatcher {
  /// Parses `.dockerignore` text; `file` names the source in errors.
  pub fn parse(text: &str, file: &str) -> Result<Self, DockerError> {
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
      let raw = if i == 0 { raw.trim_start_matches('\u{feff}') } else { raw };
      if raw.starts_with('#') {
        continue;
      }
      let line = raw.trim();
      if !line.is_empty() {
        lines.push(line.to_string());
      }
    }
    Self::from_patterns(lines.iter().map(String::as_str), file)
  }

  /// Compiles patterns (already without comments), in order.
  pub fn from_patterns<'a>(
    patterns: impl IntoIterator<Item = &'a str>,
    file: &str,
  ) -> Result<Self, DockerError> {
    let mut out = Vec::new();
    for raw in patterns {
      let (exclusion, body) = match raw.strip_prefix('!') {
        Some(rest) => (true, rest.trim()),
        None => (false, raw),
      };
      if body.is_empty() {
        continue;
      }
      let mut text = clean(body);
      if text.len() > 1 && text.starts_with('/') {
        text.remove(0);
      }
      let glob = GlobBuilder::new(&text)
        .literal_separator(true)
        .backslash_escape(true)
        .empty_alternates(false)
        .build()
        .map_err(|e| DockerError::IgnorePattern {
          pattern: raw.to_string(),
          file: file.to_string(),
          message: e.kind().to_string(),
        })?
        .compile_matcher();
      out.push(Pattern { text, exclusion, glob });
    }
    Ok(IgnoreMatcher { patterns: out })
  }

  /// Appends the patterns of `other` (they win over ours).
  pub fn extend(&mut self, other: IgnoreMatcher) {
    self.patterns.extend(other.patterns);
  }

  /// Number of patterns.
  pub fn len(&self) -> usize {
    self.patterns.len()
  }

  /// True without patterns.
  pub fn is_empty(&self) -> bool {
    self.patterns.is_empty()
  }

  /// Whether `rel` (a `/`-separated path relative to the context root) is excluded.
  pub fn is_excluded(&self, rel: &str) -> bool {
    let rel = clean(rel);
    let parents: Vec<&str> = rel.split('/').collect();
    let mut matched = false;
    for p in &self.patterns {
      // Inclusions only matter once matched, exclusions only before.
      if p.exclusion != matched {
        continue;
      }
      let mut hit = p.glob.is_match(&rel);
      if !hit && parents.len() > 1 {
        for i in 1..parents.len() {
          if p.glob.is_match(parents[..i].join("/")) {
            hit = true;
            break;
          }
        }
      }
      if hit {
        matched = !p.exclusion;
      }
    }
    matched
  }

  /// Whether an excluded directory can be skipped entirely: no `!` pattern could re-include
  /// something below it (Docker's rule: an exception whose text starts with `dir/`, or any
  /// exception starting with a wildcard, keeps the walk going).
  pub fn can_skip_dir(&self, rel_dir: &str) -> bool {
    let dir_slash = format!("{}/", clean(rel_dir));
    !self.patterns.iter().any(|p| {
      p.exclusion
        && (format!("{}/", p.text).starts_with(&dir_slash) || p.text.starts_with(['*', '?', '[']))
    })
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn m(text: &str) -> IgnoreMatcher {
    IgnoreMatcher::parse(text, ".dockerignore").unwrap()
  }

  #[test]
  fn root_anchored_like_docker() {
    let i = m("node_modules\n*.log\n");
    assert!(i.is_excluded("node_modules"));
    assert!(i.is_excluded("node_modules/x/y.js"));
    assert!(!i.is_excluded("apps/web/node_modules/a.js"));
    assert!(i.is_excluded("err.log"));
    assert!(!i.is_excluded("logs/err.log"));
  }

  #[test]
  fn double_star_and_parents() {
    let i = m("**/node_modules\n**/*.pyc\n**/.env\n");
    assert!(i.is_excluded("apps/web/node_modules/react/index.js"));
    assert!(i.is_excluded("node_modules"));
    assert!(i.is_excluded("a/b/c.pyc"));
    assert!(i.is_excluded("c.pyc"));
    assert!(i.is_excluded("apps/api/.env"));
    assert!(!i.is_excluded("apps/api/.env.example"));
    assert!(!i.is_excluded("apps/api/main.py"));
  }

  #[test]
  fn exceptions_and_last_match_wins() {
    let i = m("# comment\n\n  dist  \n!dist/keep\n*.md\n!README.md\n");
    assert!(i.is_excluded("dist/a.js"));
    assert!(!i.is_excluded("dist/keep/model.bin"));
    assert!(!i.is_excluded("README.md"));
    assert!(i.is_excluded("CHANGES.md"));
    assert!(!i.can_skip_dir("dist"));
    assert!(m("dist\n").can_skip_dir("dist"));
    let j = m("dist\n!dist/keep\ndist/keep/secret\n");
    assert!(j.is_excluded("dist/keep/secret"));
    assert!(!j.is_excluded("dist/keep/other"));
  }

  #[test]
  fn cleaning_and_leading_slash() {
    let i = m("/build/../out\n./tmp/\n?.txt\n[ab].c\n");
    assert!(i.is_excluded("out/x"));
    assert!(i.is_excluded("tmp/a"));
    assert!(i.is_excluded("a.txt"));
    assert!(!i.is_excluded("ab.txt"));
    assert!(i.is_excluded("b.c"));
    assert!(!i.is_excluded("c.c"));
    assert_eq!(clean("a/./b/../c/"), "a/c");
    assert_eq!(clean("/../x"), "/x");
  }

  #[test]
  fn invalid_pattern_is_an_error() {
    let err = IgnoreMatcher::parse("[abc\n", "x/.dockerignore").unwrap_err();
    assert!(err.to_string().contains("[abc"), "{err}");
    assert!(err.to_string().contains("x/.dockerignore"));
  }

  #[test]
  fn generated_dockerignores_behave() {
    let ctx = crate::deploy::context::tests::sample();
    // The development context (project root).
    let i = m(&crate::deploy::dockerfile::dev_dockerignore(&ctx));
    for ex in [
      "apps/api/.env",
      ".git/HEAD",
      "apps/web/node_modules/x",
      "dist/docker/Dockerfile",
      "keys/server.pem",
      "apps/api/__pycache__/m.cpython-311.pyc",
      "apps/api/.env.production",
    ] {
      assert!(i.is_excluded(ex), "{ex}");
    }
    for inc in ["apps/api/main.py", "apps/web/src/App.tsx", "apps/web/package.json"] {
      assert!(!i.is_excluded(inc), "{inc}");
    }
    // The production context (the output directory).
    let p = m(&crate::deploy::dockerfile::dockerignore(&ctx));
    assert!(p.is_excluded("api/.venv/lib/site.py") && p.is_excluded("api/.env"));
    assert!(p.is_excluded("models/x/model.gguf") && !p.is_excluded("web/index.html"));
  }
}
