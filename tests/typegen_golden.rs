//! Golden tests: `fixtures/openapi/*.json` must produce exactly `fixtures/generated-ref/*.ts`, the
//! output of openapi-typescript 7.13.0 committed by `fixtures/check.sh` (no Node needed here).

use std::path::PathBuf;

use farm_build_native::typegen::{generate, GenerateOptions};

#[test]
fn fixtures_match_openapi_typescript_output() {
  let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/typegen");
  let mut checked = 0;
  let mut specs: Vec<PathBuf> = std::fs::read_dir(root.join("openapi"))
    .expect("fixtures/openapi")
    .map(|e| e.expect("dir entry").path())
    .filter(|p| p.extension().is_some_and(|e| e == "json"))
    .collect();
  specs.sort();
  for spec in specs {
    let stem = spec.file_stem().expect("stem").to_string_lossy().into_owned();
    let expected_path = root.join("generated-ref").join(format!("{stem}.ts"));
    let expected = std::fs::read_to_string(&expected_path)
      .unwrap_or_else(|e| panic!("{}: {e} (run fixtures/check.sh once)", expected_path.display()));
    let doc: serde_json::Value =
      serde_json::from_str(&std::fs::read_to_string(&spec).expect("read spec"))
        .expect("parse spec");
    let got = generate(&doc, &GenerateOptions::default()).expect("generate");
    // Headers differ by design (ours names the real generator); the bodies must be identical.
    let body = |s: &str| s.split_once(" */\n\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    assert!(!body(&got).is_empty());
    assert!(
      body(&got) == body(&expected),
      "{stem}: output differs from openapi-typescript's {}",
      expected_path.display()
    );
    checked += 1;
  }
  assert!(checked >= 7, "only {checked} fixtures found");
}
