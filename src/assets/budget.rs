//! Size budgets (`frontend.budgets` in the config, `farm build --size-limit`).
//!
//! Sizes are written like `500KB`, `1.5MB`, `200KiB` or `123456` (bytes); `K`, `KB` and `KiB` all
//! mean 1024 bytes (`M`/`MB`/`MiB` 1024², as everywhere in the FARM config). Budgets are measured on the gzip size by
//! default (what a browser downloads); `measure` switches to `brotli` or `raw`.
//!
//! - `chunk`: the limit of every JavaScript chunk and CSS file (what `--size-limit` sets);
//! - `chunks`: limits by chunk name (`react-vendor`, `index`) or output file name, overriding `chunk`;
//! - `total`: the limit of all JavaScript and CSS together.

use super::analysis::{name_from_file, Analysis};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a budget measures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Measure {
  /// The gzip size (level 6). Default.
  #[default]
  Gzip,
  /// The brotli size (quality 11).
  Brotli,
  /// Bytes on disk.
  Raw,
}

impl Measure {
  /// Its name.
  pub fn as_str(self) -> &'static str {
    match self {
      Measure::Gzip => "gzip",
      Measure::Brotli => "brotli",
      Measure::Raw => "raw",
    }
  }
}

/// `frontend.budgets`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Budgets {
  /// All JavaScript and CSS together, e.g. `"500KB"`.
  pub total: Option<String>,
  /// Every JavaScript chunk and CSS file, e.g. `"250KB"`.
  pub chunk: Option<String>,
  /// By chunk name or output file name, e.g. `{ "react-vendor": "200KB" }`.
  #[serde(default)]
  pub chunks: BTreeMap<String, String>,
  /// `gzip` (default), `brotli` or `raw`.
  #[serde(default)]
  pub measure: Measure,
}

/// A chunk (or the total) over its budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
  /// The chunk's name, or `total`.
  pub name: String,
  /// The output file (`None` for the total).
  pub file: Option<String>,
  /// Its measured size.
  pub size: u64,
  /// Its budget.
  pub limit: u64,
}

/// Parses `500KB`, `1.5 MB`, `200KiB`, `42B` or `42` into bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
  let t = s.trim();
  let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
  let (num, unit) = t.split_at(split);
  let n: f64 = num
    .parse()
    .map_err(|_| format!("{s:?} is not a size: expected a number and a unit, like \"500KB\""))?;
  let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
    "" | "b" => 1.0,
    "k" | "kb" | "kib" => 1024.0,
    "m" | "mb" | "mib" => 1024.0 * 1024.0,
    "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
    u => return Err(format!("{s:?}: unknown unit {u:?}: use B, KB, MB, GB, KiB, MiB or GiB")),
  };
  let bytes = n * mult;
  if !(1.0..=1e15).contains(&bytes) {
    return Err(format!("{s:?} is out of range: expected at least 1 byte"));
  }
  Ok(bytes.round() as u64)
}

/// Formats bytes the way budgets are written: `65.92 KiB`.
pub fn fmt_size(n: u64) -> String {
  if n >= 1 << 20 {
    format!("{:.2} MiB", n as f64 / f64::from(1u32 << 20))
  } else if n >= 1024 {
    format!("{:.2} KiB", n as f64 / 1024.0)
  } else {
    format!("{n} B")
  }
}

impl Budgets {
  /// Whether no budget is set.
  pub fn is_empty(&self) -> bool {
    self.total.is_none() && self.chunk.is_none() && self.chunks.is_empty()
  }

  /// Every invalid size, as `(key path under budgets, what is expected)`.
  pub fn validate(&self) -> Vec<(String, String)> {
    let mut errs = Vec::new();
    let mut check = |path: String, v: &str| {
      if let Err(e) = parse_size(v) {
        errs.push((path, e));
      }
    };
    if let Some(t) = &self.total {
      check("total".into(), t);
    }
    if let Some(c) = &self.chunk {
      check("chunk".into(), c);
    }
    for (k, v) in &self.chunks {
      check(format!("chunks.{k}"), v);
    }
    errs
  }

  /// The chunks (and total) of `analysis` over budget, biggest excess first.
  pub fn check(&self, analysis: &Analysis) -> Result<Vec<Violation>, String> {
    let pick = |raw: u64, gzip: u64, brotli: u64| match self.measure {
      Measure::Gzip => gzip,
      Measure::Brotli => brotli,
      Measure::Raw => raw,
    };
    let default = self.chunk.as_deref().map(parse_size).transpose()?;
    let mut named = BTreeMap::new();
    for (k, v) in &self.chunks {
      named.insert(k.as_str(), parse_size(v)?);
    }
    let mut out = Vec::new();
    for f in analysis.files.iter().filter(|f| f.kind == "js" || f.kind == "css") {
      let name = analysis
        .chunks
        .iter()
        .find(|c| c.file_name == f.path)
        .map(|c| c.name.clone())
        .unwrap_or_else(|| name_from_file(&f.path));
      let css_name = format!("{name}.css");
      let limit = named
        .get(f.path.as_str())
        .or_else(|| {
          if f.kind == "css" {
            named.get(css_name.as_str())
          } else {
            named.get(name.as_str())
          }
        })
        .copied()
        .or(default);
      let size = pick(f.raw, f.gzip, f.brotli);
      if let Some(limit) = limit.filter(|&l| size > l) {
        let name = if f.kind == "css" { css_name } else { name };
        out.push(Violation { name, file: Some(f.path.clone()), size, limit });
      }
    }
    if let Some(t) = &self.total {
      let limit = parse_size(t)?;
      let c = &analysis.code_totals;
      let size = pick(c.raw, c.gzip, c.brotli);
      if size > limit {
        out.push(Violation { name: "total".into(), file: None, size, limit });
      }
    }
    out.sort_by(|a, b| {
      (b.size - b.limit).cmp(&(a.size - a.limit)).then_with(|| a.name.cmp(&b.name))
    });
    Ok(out)
  }

  /// A table of `violations`: chunk, file, size, budget, excess.
  pub fn table(&self, violations: &[Violation]) -> String {
    let head = ["chunk", "file", self.measure.as_str(), "budget", "over by"];
    let rows: Vec<[String; 5]> = violations
      .iter()
      .map(|v| {
        let over = v.size - v.limit;
        [
          v.name.clone(),
          v.file.clone().unwrap_or_else(|| "(all JS + CSS)".into()),
          fmt_size(v.size),
          fmt_size(v.limit),
          format!("{} ({:.0}%)", fmt_size(over), over as f64 * 100.0 / v.limit as f64),
        ]
      })
      .collect();
    let mut w = head.map(str::len);
    for r in &rows {
      for (i, c) in r.iter().enumerate() {
        w[i] = w[i].max(c.chars().count());
      }
    }
    let line = |cells: Vec<String>| {
      cells
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c:<width$}", width = w[i]))
        .collect::<Vec<_>>()
        .join("  ")
        .trim_end()
        .to_string()
    };
    let mut s = format!(
      "{} over the size budget ({} sizes):\n",
      if violations.len() == 1 {
        "1 chunk is".to_string()
      } else {
        format!("{} chunks are", violations.len())
      },
      self.measure.as_str()
    );
    s += &line(head.iter().map(|h| h.to_string()).collect());
    s.push('\n');
    s += &line(w.iter().map(|n| "─".repeat(*n)).collect());
    for r in rows {
      s.push('\n');
      s += &line(r.to_vec());
    }
    s
  }
}

#[cfg(test)]
mod tests {
  use super::super::analysis::{ChunkReport, FileSizes, Totals};
  use super::super::compress::Implementation;
  use super::*;

  #[test]
  fn sizes_parse_with_units() {
    assert_eq!(parse_size("500KB"), Ok(512_000));
    assert_eq!(parse_size("500kb"), Ok(512_000));
    assert_eq!(parse_size("500K"), Ok(512_000));
    assert_eq!(parse_size("1.5 MB"), Ok(1_572_864));
    assert_eq!(parse_size("200KiB"), Ok(204_800));
    assert_eq!(parse_size("42"), Ok(42));
    assert_eq!(parse_size("42B"), Ok(42));
    assert!(parse_size("lots").is_err());
    assert!(parse_size("5 parsecs").unwrap_err().contains("unknown unit"));
    assert!(parse_size("0KB").is_err());
  }

  fn file(path: &str, raw: u64, gzip: u64) -> FileSizes {
    FileSizes {
      path: path.into(),
      kind: super::super::analysis::kind_of(path).into(),
      raw,
      gzip,
      brotli: gzip - 10,
    }
  }

  fn analysis() -> Analysis {
    let files = vec![
      file("assets/react-vendor-DFVj3Tma.js", 218_000, 67_500),
      file("assets/index-BlrlEO0i.js", 15_000, 5_400),
      file("assets/index-BfNHD02k.css", 3_700, 1_380),
      file("assets/hero-DKF7B7UM.png", 16_000, 16_010),
    ];
    let chunk = |f: &FileSizes, name: &str| ChunkReport {
      file_name: f.path.clone(),
      name: name.into(),
      is_entry: false,
      is_dynamic_entry: false,
      raw: f.raw,
      gzip: f.gzip,
      brotli: f.brotli,
      module_count: 0,
      top_modules: vec![],
      imports: vec![],
    };
    let chunks = vec![chunk(&files[0], "react-vendor"), chunk(&files[1], "main")];
    Analysis {
      version: 1,
      compression: Implementation { gzip: "g".into(), brotli: "b".into(), matches_node: false },
      totals: Totals::default(),
      code_totals: Totals { files: 3, raw: 236_700, gzip: 74_280, brotli: 74_250 },
      files,
      chunks,
      duration_ms: 0.0,
    }
  }

  #[test]
  fn chunks_over_budget_are_found_by_name_file_and_default() {
    let a = analysis();
    let b = Budgets { chunk: Some("50KB".into()), ..Default::default() };
    let v = b.check(&a).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].name, "react-vendor");
    assert_eq!((v[0].size, v[0].limit), (67_500, 51_200));
    let t = b.table(&v);
    assert!(t.contains("react-vendor") && t.contains("15.92 KiB (32%)"), "{t}");

    // a named budget overrides the default; the Vite chunk name (`main`) is used, CSS as `index.css`
    let b = Budgets {
      chunk: Some("1KB".into()),
      chunks: BTreeMap::from([
        ("react-vendor".into(), "100KB".into()),
        ("main".into(), "10KB".into()),
        ("index.css".into(), "1KB".into()),
      ]),
      ..Default::default()
    };
    let names: Vec<_> = b.check(&a).unwrap().into_iter().map(|v| v.name).collect();
    assert_eq!(names, vec!["index.css"]);

    // raw sizes and a total
    let b = Budgets { total: Some("200KB".into()), measure: Measure::Raw, ..Default::default() };
    let v = b.check(&a).unwrap();
    assert_eq!(
      v,
      vec![Violation { name: "total".into(), file: None, size: 236_700, limit: 204_800 }]
    );
    assert!(Budgets::default().check(&a).unwrap().is_empty());
  }

  #[test]
  fn invalid_sizes_name_their_key() {
    let b = Budgets {
      total: Some("big".into()),
      chunks: BTreeMap::from([("x".into(), "3 furlongs".into())]),
      ..Default::default()
    };
    let errs = b.validate();
    assert_eq!(errs.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(), vec!["total", "chunks.x"]);
    let parsed: Result<Budgets, _> = serde_json::from_str(r#"{"totl":"1KB"}"#);
    assert!(parsed.is_err());
  }
}
