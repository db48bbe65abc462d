//! Custom model directories (Hugging Face / PyTorch / TensorFlow): copied as they are, with a
//! sha256 per file and a `manifest.json`. Nothing is converted, quantized or compiled, and the
//! manifest says so (`"conversion": "none"`).

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::config::{CustomModel, CustomModelKind};
use super::fsutil::{copy_hashing, replace_dir, temp_path_for, write_atomic};

/// A custom model that could not be bundled.
#[derive(Debug, thiserror::Error)]
#[error("custom model `{name}` ({path}): {message}")]
pub struct CustomModelError {
  /// `customModels[].name`.
  pub name: String,
  /// The file or directory concerned.
  pub path: PathBuf,
  /// What went wrong and what to do.
  pub message: String,
}

/// One copied file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomFile {
  /// Path inside the model directory, `/`-separated.
  pub path: String,
  /// Size in bytes.
  pub size: u64,
  /// sha256 hex of the copied bytes.
  pub sha256: String,
}

/// The `manifest.json` written next to the copied files.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomManifest {
  /// Model name.
  pub name: String,
  /// `huggingface` / `pytorch` / `tensorflow`.
  #[serde(rename = "type")]
  pub kind: CustomModelKind,
  /// The path as given in the config.
  pub source: String,
  /// Always `"none"`: files are copied byte for byte.
  pub conversion: &'static str,
  /// Copied files, sorted by path.
  pub files: Vec<CustomFile>,
  /// Σ file sizes.
  pub total_size: u64,
}

/// Result of [`bundle_custom_model`].
#[derive(Debug, Clone)]
pub struct CustomBundle {
  /// The manifest (also written to `<dest>/manifest.json`).
  pub manifest: CustomManifest,
  /// Things the user should know (skipped files, unexpected layout).
  pub warnings: Vec<String>,
}

/// Copies `model.path` (relative to `project_root` unless absolute) into `dest` (replaced if it
/// exists, built under a temp name first). Symlinks, `.git/` and `.env*` files are skipped
/// with a warning. Warns when the layout does not look like `model.kind`.
pub fn bundle_custom_model(
  model: &CustomModel,
  project_root: &Path,
  dest: &Path,
) -> Result<CustomBundle, CustomModelError> {
  let src = project_root.join(&model.path);
  let err = |path: &Path, message: String| CustomModelError {
    name: model.name.clone(),
    path: path.to_path_buf(),
    message,
  };
  let meta =
    fs::metadata(&src).map_err(|e| err(&src, format!("{e} (check customModels[].path)")))?;
  let parent = dest.parent().unwrap_or(Path::new("."));
  fs::create_dir_all(parent).map_err(|e| err(parent, e.to_string()))?;
  let tmp = temp_path_for(dest);
  let _ = fs::remove_dir_all(&tmp);
  fs::create_dir_all(&tmp).map_err(|e| err(&tmp, e.to_string()))?;
  let mut files = Vec::new();
  let mut warnings = Vec::new();
  let res = if meta.is_dir() {
    copy_tree(&src, &tmp, "", &mut files, &mut warnings)
  } else {
    let name =
      src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    copy_file(&src, &tmp, &name, &mut files)
  };
  let res = res.and_then(|()| {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    if files.is_empty() {
      return Err((src.clone(), "no files to bundle".to_string()));
    }
    if let Some(w) = layout_warning(model.kind, &files) {
      warnings.push(format!("custom model `{}`: {w}", model.name));
    }
    let manifest = CustomManifest {
      name: model.name.clone(),
      kind: model.kind,
      source: model.path.clone(),
      conversion: "none",
      total_size: files.iter().map(|f| f.size).sum(),
      files: std::mem::take(&mut files),
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| (tmp.clone(), e.to_string()))?;
    let mpath = tmp.join("manifest.json");
    write_atomic(&mpath, &json, false).map_err(|e| (mpath, e.to_string()))?;
    replace_dir(&tmp, dest).map_err(|e| (dest.to_path_buf(), e.to_string()))?;
    Ok(manifest)
  });
  match res {
    Ok(manifest) => Ok(CustomBundle { manifest, warnings }),
    Err((path, message)) => {
      let _ = fs::remove_dir_all(&tmp);
      Err(err(&path, message))
    }
  }
}

type CopyResult = Result<(), (PathBuf, String)>;

fn copy_tree(
  src: &Path,
  dst: &Path,
  rel: &str,
  files: &mut Vec<CustomFile>,
  warnings: &mut Vec<String>,
) -> CopyResult {
  let mut entries: Vec<_> = fs::read_dir(src)
    .map_err(|e| (src.to_path_buf(), e.to_string()))?
    .collect::<Result<_, _>>()
    .map_err(|e| (src.to_path_buf(), e.to_string()))?;
  entries.sort_by_key(|e| e.file_name());
  for e in entries {
    let name = e.file_name().to_string_lossy().into_owned();
    let path = e.path();
    let rel_path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
    let ft = e.file_type().map_err(|err| (path.clone(), err.to_string()))?;
    if ft.is_symlink() {
      warnings.push(format!("skipped symlink {}", path.display()));
    } else if name == ".git" || name == ".env" || name.starts_with(".env.") {
      warnings.push(format!("skipped {} (never bundled)", path.display()));
    } else if ft.is_dir() {
      let d = dst.join(&name);
      fs::create_dir_all(&d).map_err(|err| (d.clone(), err.to_string()))?;
      copy_tree(&path, &d, &rel_path, files, warnings)?;
    } else if ft.is_file() {
      copy_file(&path, dst, &name, files)?;
      if let Some(last) = files.last_mut() {
        last.path = rel_path;
      }
    } else {
      warnings.push(format!("skipped special file {}", path.display()));
    }
  }
  Ok(())
}

fn copy_file(src: &Path, dst_dir: &Path, name: &str, files: &mut Vec<CustomFile>) -> CopyResult {
  let dst = dst_dir.join(name);
  let (sha256, size) = copy_hashing(src, &dst).map_err(|e| (src.to_path_buf(), e.to_string()))?;
  files.push(CustomFile { path: name.to_string(), size, sha256 });
  Ok(())
}

fn layout_warning(kind: CustomModelKind, files: &[CustomFile]) -> Option<String> {
  let any = |f: &dyn Fn(&str) -> bool| files.iter().any(|x| f(&x.path));
  let ext = |p: &str, exts: &[&str]| exts.iter().any(|e| p.ends_with(e));
  let ok = match kind {
    CustomModelKind::Huggingface => any(&|p| p == "config.json" || p.ends_with("/config.json")),
    CustomModelKind::Pytorch => any(&|p| ext(p, &[".pt", ".pth", ".bin", ".safetensors", ".ckpt"])),
    CustomModelKind::Tensorflow => {
      any(&|p| p.ends_with("saved_model.pb") || ext(p, &[".h5", ".keras", ".tflite"]))
    }
  };
  (!ok).then(|| {
    let expected = match kind {
      CustomModelKind::Huggingface => "a config.json",
      CustomModelKind::Pytorch => "a .pt/.pth/.bin/.safetensors/.ckpt file",
      CustomModelKind::Tensorflow => "a saved_model.pb, .h5, .keras or .tflite file",
    };
    format!("no {expected} found; is `type: {}` right? (copied anyway)", kind.as_str())
  })
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn copies_with_checksums_and_skips_secrets() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("proj/models/bert");
    fs::create_dir_all(src.join("tok")).unwrap();
    fs::write(src.join("config.json"), b"{\"a\":1}").unwrap();
    fs::write(src.join("model.safetensors"), vec![7u8; 5000]).unwrap();
    fs::write(src.join("tok/vocab.txt"), b"hello\nworld\n").unwrap();
    fs::write(src.join(".env"), b"HF_TOKEN=hf_secret").unwrap();
    let m = CustomModel {
      name: "bert".into(),
      kind: CustomModelKind::Huggingface,
      path: "models/bert".into(),
    };
    let dest = d.path().join("out/ai/custom-models/bert");
    let b = bundle_custom_model(&m, &d.path().join("proj"), &dest).unwrap();
    let paths: Vec<&str> = b.manifest.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["config.json", "model.safetensors", "tok/vocab.txt"]);
    assert_eq!(fs::read(dest.join("tok/vocab.txt")).unwrap(), b"hello\nworld\n");
    assert_eq!(b.manifest.files[1].sha256, super::super::fsutil::sha256_hex(&[7u8; 5000]));
    assert!(!dest.join(".env").exists());
    assert!(b.warnings.iter().any(|w| w.contains(".env")), "{:?}", b.warnings);
    let mj: serde_json::Value =
      serde_json::from_slice(&fs::read(dest.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(mj["conversion"], "none");
    assert_eq!(mj["type"], "huggingface");
    assert_eq!(mj["totalSize"], 5000 + 7 + 12);
  }

  #[test]
  fn wrong_layout_warns_and_missing_path_errors() {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("weights.pt"), b"torch").unwrap();
    let m = CustomModel {
      name: "tf".into(),
      kind: CustomModelKind::Tensorflow,
      path: "weights.pt".into(),
    };
    let b = bundle_custom_model(&m, d.path(), &d.path().join("o/tf")).unwrap();
    assert!(b.warnings[0].contains("type: tensorflow"), "{:?}", b.warnings);
    let m = CustomModel { name: "x".into(), kind: CustomModelKind::Pytorch, path: "nope".into() };
    let e = bundle_custom_model(&m, d.path(), &d.path().join("o/x")).unwrap_err();
    assert!(e.to_string().contains("nope") && e.to_string().contains("customModels"), "{e}");
  }
}
