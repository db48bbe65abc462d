//! Build script: lets napi-build set the linker flags a Node.js addon needs, and stamps the build
//! with a digest of its sources (`FARM_SOURCE_DIGEST`): the addon and the native `farm` executable
//! built from the same sources share it, so both may talk to the same warm-mode daemon.
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
  let Ok(entries) = std::fs::read_dir(dir) else { return };
  for e in entries.flatten() {
    let p = e.path();
    if p.is_dir() {
      files(&p, out);
    } else {
      out.push(p);
    }
  }
}

/// 64-bit FNV-1a, twice with different offsets: a stable digest without build dependencies.
fn digest(parts: &[(String, Vec<u8>)]) -> String {
  let mut h = [0xcbf2_9ce4_8422_2325u64, 0x6c62_272e_07bb_0142u64];
  for (name, bytes) in parts {
    for b in name.bytes().chain([0]).chain(bytes.iter().copied()).chain([0]) {
      for x in h.iter_mut() {
        *x ^= u64::from(b);
        *x = x.wrapping_mul(0x0000_0100_0000_01b3);
      }
    }
  }
  format!("{:016x}{:016x}", h[0], h[1])
}

fn main() {
  napi_build::setup();
  let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
  let mut paths = Vec::new();
  files(&root.join("src"), &mut paths);
  paths.extend(["Cargo.toml", "Cargo.lock", "build.rs"].map(|f| root.join(f)));
  paths.sort();
  let parts: Vec<(String, Vec<u8>)> = paths
    .iter()
    .map(|p| {
      let rel = p.strip_prefix(&root).unwrap_or(p).to_string_lossy().into_owned();
      (rel, std::fs::read(p).unwrap_or_default())
    })
    .collect();
  println!("cargo:rustc-env=FARM_SOURCE_DIGEST={}", digest(&parts));
  for f in ["src", "Cargo.toml", "Cargo.lock", "build.rs"] {
    println!("cargo:rerun-if-changed={f}");
  }
}
