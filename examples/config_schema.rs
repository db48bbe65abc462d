//! Writes `farm.config.schema.json` and `js/config-types.d.ts` from the Rust config types.
//! Run after changing anything in the config (`tests/config_schema.rs` fails until you do):
//!
//! ```sh
//! cargo run --example config_schema
//! ```

use farm_build_native::config::schema;
use std::path::Path;

fn main() {
  let root = Path::new(env!("CARGO_MANIFEST_DIR"));
  for (rel, text) in
    [(schema::SCHEMA_FILE, schema::json_schema_text()), (schema::TYPES_FILE, schema::typescript())]
  {
    let path = root.join(rel);
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    if old == text {
      println!("{rel}: up to date");
    } else {
      std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
      println!("{rel}: written");
    }
  }
}
