//! The index of the Ollama models the ai-models task exported: ONE format, written by the ai-models
//! task and read by the docker task (which bakes the listed models into the Ollama image and pulls
//! only the others).
//!
//! Layout under `<outputDir>/`[`MODELS_DIR`]:
//!
//! ```text
//! models/exported-models.json      this index
//! models/<dir>/model.gguf          weights (and template.txt, params.json, LICENSE, ...)
//! models/<dir>/Modelfile           `FROM ./model.gguf` ... (paths relative to the Modelfile)
//! ```
//!
//! Every path in the index is relative to the models directory, `/`-separated, without `..`.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::fsutil::{sha256_file, write_atomic};
use super::store::{ExportedModel, ModelName};

/// The directory under `<outputDir>` holding the exported models and the index.
pub const MODELS_DIR: &str = "models";
/// The index file name inside [`MODELS_DIR`].
pub const INDEX_FILE: &str = "exported-models.json";
/// The index format version this code writes and reads.
pub const INDEX_VERSION: u32 = 1;

/// `exported-models.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportIndex {
  /// [`INDEX_VERSION`].
  pub version: u32,
  /// The exported models, sorted by name.
  pub models: Vec<IndexedModel>,
}

/// One exported model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IndexedModel {
  /// Ollama's short name (`llama3.2:latest`, `me/m:q4`), as `ollama create` gets it.
  pub name: String,
  /// The model's directory, relative to the models directory (e.g. `llama3.2-latest`).
  pub dir: String,
  /// The Modelfile, relative to the models directory (e.g. `llama3.2-latest/Modelfile`).
  pub modelfile: String,
  /// sha256 hex of the Ollama manifest the export was made from.
  pub manifest_digest: String,
  /// Every file of the model's directory, the Modelfile included, sorted by path.
  pub files: Vec<IndexedFile>,
}

/// One file of an exported model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IndexedFile {
  /// Path relative to the models directory (e.g. `llama3.2-latest/model.gguf`).
  pub path: String,
  /// sha256 hex of the file's bytes.
  pub sha256: String,
  /// Size in bytes.
  pub size: u64,
}

/// Reading or checking an index failed; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
  /// The index or one of its files cannot be read.
  #[error("{path}: {source}")]
  Io {
    /// The file.
    path: PathBuf,
    /// The OS error.
    #[source]
    source: io::Error,
  },
  /// Not a valid index.
  #[error("{path}: not a valid exported-models index: {reason}. Fix: rebuild the ai-models task (`farm build --target ai`)")]
  Invalid {
    /// The index file.
    path: PathBuf,
    /// What is wrong.
    reason: String,
  },
  /// A listed file differs from the index (changed after the export).
  #[error("{path}: {what} differs from {index} ({reason}). Fix: rebuild the ai-models task (`farm build --target ai`)")]
  Mismatch {
    /// The model file.
    path: PathBuf,
    /// The index file.
    index: PathBuf,
    /// `size` or `sha256`.
    what: &'static str,
    /// Expected vs actual.
    reason: String,
  },
}

/// A relative, `/`-separated path without `.`/`..` parts or a leading `/`.
fn safe_rel(p: &str) -> bool {
  !p.is_empty()
    && !p.starts_with('/')
    && !p.contains('\\')
    && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

impl ExportIndex {
  /// The index path inside `models_dir`.
  pub fn path(models_dir: &Path) -> PathBuf {
    models_dir.join(INDEX_FILE)
  }

  /// Builds the index entry of one export made into `<models_dir>/<dir>` by
  /// [`export_model`](super::store::export_model): its blob files (sha256 from their verified
  /// digests) and the Modelfile (hashed here).
  pub fn entry(
    models_dir: &Path,
    dir: &str,
    export: &ExportedModel,
  ) -> Result<IndexedModel, IndexError> {
    let mut files = Vec::with_capacity(export.files.len() + 1);
    for f in &export.files {
      let sha = super::store::digest_hex(&f.digest).ok_or_else(|| IndexError::Invalid {
        path: models_dir.join(dir).join(&f.file),
        reason: format!("digest `{}` is not sha256:<64 hex>", f.digest),
      })?;
      files.push(IndexedFile { path: format!("{dir}/{}", f.file), sha256: sha, size: f.size });
    }
    let mf = models_dir.join(dir).join("Modelfile");
    let (sha, size) = sha256_file(&mf).map_err(|source| IndexError::Io { path: mf, source })?;
    files.push(IndexedFile { path: format!("{dir}/Modelfile"), sha256: sha, size });
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(IndexedModel {
      name: export.model.clone(),
      dir: dir.to_string(),
      modelfile: format!("{dir}/Modelfile"),
      manifest_digest: export.manifest_digest.clone(),
      files,
    })
  }

  /// Writes the index into `models_dir` (atomically), models sorted by name.
  pub fn write(&self, models_dir: &Path) -> Result<(), IndexError> {
    let mut sorted = self.clone();
    sorted.models.sort_by(|a, b| a.name.cmp(&b.name));
    let mut bytes = serde_json::to_vec_pretty(&sorted).unwrap_or_default();
    bytes.push(b'\n');
    let path = Self::path(models_dir);
    write_atomic(&path, &bytes, false).map_err(|source| IndexError::Io { path, source })
  }

  /// Removes a stale index (no model exported this time).
  pub fn remove(models_dir: &Path) -> Result<(), IndexError> {
    let path = Self::path(models_dir);
    match std::fs::remove_file(&path) {
      Ok(()) => Ok(()),
      Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
      Err(source) => Err(IndexError::Io { path, source }),
    }
  }

  /// Reads the index of `models_dir`; `Ok(None)` when there is none. Checks the version and
  /// that every path is relative and stays inside the models directory.
  pub fn read(models_dir: &Path) -> Result<Option<ExportIndex>, IndexError> {
    let path = Self::path(models_dir);
    let bytes = match std::fs::read(&path) {
      Ok(b) => b,
      Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
      Err(source) => return Err(IndexError::Io { path, source }),
    };
    let invalid = |reason: String| IndexError::Invalid { path: path.clone(), reason };
    let index: ExportIndex = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    if index.version != INDEX_VERSION {
      return Err(invalid(format!(
        "version {} (this farm reads version {INDEX_VERSION})",
        index.version
      )));
    }
    for m in &index.models {
      ModelName::parse(&m.name).map_err(|e| invalid(e.to_string()))?;
      if !safe_rel(&m.dir) || m.dir.contains('/') {
        return Err(invalid(format!("model `{}`: dir `{}` is not a plain name", m.name, m.dir)));
      }
      let inside = |p: &str| safe_rel(p) && p.starts_with(&format!("{}/", m.dir));
      if !inside(&m.modelfile) {
        return Err(invalid(format!(
          "model `{}`: modelfile `{}` is not inside `{}`",
          m.name, m.modelfile, m.dir
        )));
      }
      if let Some(f) = m.files.iter().find(|f| !inside(&f.path)) {
        return Err(invalid(format!(
          "model `{}`: file `{}` is not inside `{}`",
          m.name, f.path, m.dir
        )));
      }
      if let Some(f) = m
        .files
        .iter()
        .find(|f| f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_hexdigit()))
      {
        return Err(invalid(format!(
          "file `{}`: sha256 `{}` is not 64 hex digits",
          f.path, f.sha256
        )));
      }
    }
    Ok(Some(index))
  }

  /// The entry for a configured model name (`llama3.2` finds `llama3.2:latest`).
  pub fn get(&self, model: &str) -> Option<&IndexedModel> {
    let want = ModelName::parse(model).ok()?;
    self.models.iter().find(|m| ModelName::parse(&m.name).is_ok_and(|n| n == want))
  }

  /// Checks every listed file's size and sha256 against the disk.
  pub fn verify(&self, models_dir: &Path) -> Result<(), IndexError> {
    let index = Self::path(models_dir);
    for m in &self.models {
      for f in &m.files {
        let path = models_dir.join(&f.path);
        let (sha, size) =
          sha256_file(&path).map_err(|source| IndexError::Io { path: path.clone(), source })?;
        if size != f.size {
          return Err(IndexError::Mismatch {
            path,
            index,
            what: "size",
            reason: format!("{size} bytes on disk, {} in the index", f.size),
          });
        }
        if sha != f.sha256 {
          return Err(IndexError::Mismatch {
            path,
            index,
            what: "sha256",
            reason: format!("{sha} on disk, {} in the index", f.sha256),
          });
        }
      }
    }
    Ok(())
  }
}

#[cfg(test)]
mod tests {
  use super::super::store::testutil::{write_model, TestModel};
  use super::super::store::{export_model, Store};
  use super::*;

  fn exported(d: &Path) -> ExportIndex {
    let store = Store::new(d.join("store"));
    write_model(store.root(), &TestModel::tiny("tiny", 1));
    let models = d.join("out/models");
    let ex = export_model(&store, &ModelName::parse("tiny").unwrap(), &models.join("tiny-latest"))
      .unwrap();
    let entry = ExportIndex::entry(&models, "tiny-latest", &ex).unwrap();
    ExportIndex { version: INDEX_VERSION, models: vec![entry] }
  }

  #[test]
  fn round_trips_and_verifies() {
    let d = tempfile::tempdir().unwrap();
    let idx = exported(d.path());
    let models = d.path().join("out/models");
    idx.write(&models).unwrap();
    let back = ExportIndex::read(&models).unwrap().unwrap();
    assert_eq!(back, idx);
    let m = back.get("tiny").unwrap();
    assert_eq!((m.name.as_str(), m.modelfile.as_str()), ("tiny:latest", "tiny-latest/Modelfile"));
    assert!(m.files.iter().any(|f| f.path == "tiny-latest/model.gguf"));
    assert!(m.files.iter().any(|f| f.path == "tiny-latest/Modelfile"));
    back.verify(&models).unwrap();
    assert!(back.get("tiny:7b").is_none());
    // A changed file is caught, naming it.
    std::fs::write(models.join("tiny-latest/template.txt"), "changed").unwrap();
    let e = back.verify(&models).unwrap_err();
    assert!(e.to_string().contains("template.txt"), "{e}");
    ExportIndex::remove(&models).unwrap();
    assert!(ExportIndex::read(&models).unwrap().is_none());
  }

  #[test]
  fn rejects_paths_leaving_the_models_dir() {
    let d = tempfile::tempdir().unwrap();
    let mut idx = exported(d.path());
    let models = d.path().join("out/models");
    idx.models[0].files[0].path = "tiny-latest/../../etc/passwd".into();
    idx.write(&models).unwrap();
    let e = ExportIndex::read(&models).unwrap_err();
    assert!(e.to_string().contains("not inside") && e.to_string().contains(INDEX_FILE), "{e}");
    std::fs::write(ExportIndex::path(&models), "{\"version\": 9, \"models\": []}").unwrap();
    assert!(ExportIndex::read(&models).unwrap_err().to_string().contains("version 9"));
  }
}
