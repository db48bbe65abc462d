//! The checked-in `farm.config.schema.json` and `js/config-types.d.ts` are what the Rust config
//! types generate (`cargo run --example config_schema` rewrites them).

use farm_build_native::config::schema;
use std::path::Path;

fn check(rel: &str, expected: &str) {
  let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
  let actual = std::fs::read_to_string(&path).unwrap_or_default();
  if actual != expected {
    let line = actual.lines().zip(expected.lines()).position(|(a, b)| a != b);
    panic!(
      "{rel} is stale (first difference at line {}): run `cargo run --example config_schema` and commit it",
      line.map_or_else(|| "end".to_string(), |l| (l + 1).to_string())
    );
  }
}

#[test]
fn json_schema_file_is_current() {
  check(schema::SCHEMA_FILE, &schema::json_schema_text());
}

#[test]
fn typescript_types_file_is_current() {
  check(schema::TYPES_FILE, &schema::typescript());
}
