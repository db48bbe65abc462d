//! The config's JSON Schema and TypeScript types, both derived from the Rust types of
//! [`super::FarmConfig`] (`schemars::JsonSchema`), so the three cannot drift apart:
//!
//! - [`json_schema`] → `farm.config.schema.json` (draft-07, what editors support best), which
//!   `farm.config.json` files reference with `"$schema"`;
//! - [`typescript`] → `js/config-types.d.ts` (`FarmConfig` and the types it uses, with the doc
//!   comments as JSDoc), which `index.d.ts` re-exports and `defineConfig` takes.
//!
//! `cargo run --example config_schema` rewrites both files; `tests/config_schema.rs` fails when
//! the checked-in files are not what this module generates.

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// Name of the schema file at the repository (and package) root.
pub const SCHEMA_FILE: &str = "farm.config.schema.json";
/// Name of the TypeScript types file, relative to the repository root.
pub const TYPES_FILE: &str = "js/config-types.d.ts";

/// Members added to generated TypeScript interfaces: what JavaScript accepts on top of the JSON
/// data Rust validates. A plugin object may carry hook functions, which the config loader splits
/// off before the JSON reaches Rust (`js/config.mjs`); they are typed in `index.d.ts`.
const TS_EXTRA_MEMBERS: &[(&str, &str)] = &[(
  "PluginObject",
  "  /** Before any task, after config validation. May be sync or async. */\n  preBuild?: FarmPluginHooks['preBuild']\n  /** After the build, with its summary. May be sync or async. */\n  postBuild?: FarmPluginHooks['postBuild']\n  /** Before each task. May be sync or async. */\n  onTaskStart?: FarmPluginHooks['onTaskStart']\n  /** After each task. May be sync or async. */\n  onTaskEnd?: FarmPluginHooks['onTaskEnd']\n",
)];

/// The JSON Schema (draft-07) of `farm.config.*`, with every type in `definitions`.
pub fn json_schema() -> Value {
  let schema =
    SchemaSettings::draft07().into_generator().into_root_schema_for::<super::FarmConfig>();
  let mut v = schema.to_value();
  strip_int_formats(&mut v);
  if let Some(o) = v.as_object_mut() {
    o.insert("title".into(), Value::String("FarmConfig".into()));
    o.insert(
      "description".into(),
      Value::String(
        "The FARM build configuration (farm.config.ts / .mjs / .js / .json) of @farm/build-native."
          .into(),
      ),
    );
  }
  v
}

/// Removes schemars' `format: "uint32"`-style annotations: they are not JSON Schema formats, and
/// strict validators (ajv) reject unknown formats. The bounds stay (`minimum`, `maximum`).
fn strip_int_formats(v: &mut Value) {
  match v {
    Value::Object(o) => {
      let int_format = o
        .get("format")
        .and_then(Value::as_str)
        .is_some_and(|f| f.starts_with("uint") || f.starts_with("int"));
      if int_format {
        o.remove("format");
      }
      o.values_mut().for_each(strip_int_formats);
    }
    Value::Array(a) => a.iter_mut().for_each(strip_int_formats),
    _ => {}
  }
}

/// [`json_schema`] as the text of `farm.config.schema.json` (2-space JSON, final newline).
pub fn json_schema_text() -> String {
  let mut s = serde_json::to_string_pretty(&json_schema()).expect("a schema is JSON");
  s.push('\n');
  s
}

/// The TypeScript declarations of the config: `export interface FarmConfig` and one exported
/// interface or type alias per definition of [`json_schema`], in the order they appear.
pub fn typescript() -> String {
  let schema = json_schema();
  let empty = Map::new();
  let defs = schema.get("definitions").and_then(Value::as_object).unwrap_or(&empty);
  let mut out = String::from(
    "// The types of farm.config.*, generated from the Rust config types (src/config) by\n\
     // `cargo run --example config_schema`. Do not edit: change the Rust types and regenerate.\n\
     import type { FarmPluginHooks } from '../index.js'\n",
  );
  declare(&mut out, "FarmConfig", &schema);
  for (name, def) in defs {
    declare(&mut out, name, def);
  }
  out
}

/// Writes one exported declaration: an interface for an object schema, else a type alias.
fn declare(out: &mut String, name: &str, schema: &Value) {
  out.push('\n');
  out.push_str(&jsdoc(schema, ""));
  let extra = TS_EXTRA_MEMBERS.iter().find(|(n, _)| *n == name).map(|(_, m)| *m);
  if is_plain_object(schema) {
    let _ = writeln!(out, "export interface {name} {{");
    out.push_str(&members(schema, "  "));
    out.push_str(extra.unwrap_or(""));
    out.push_str("}\n");
  } else {
    let _ = writeln!(out, "export type {name} = {}", ty(schema, ""));
  }
}

/// An object schema with named properties and no combinators: rendered as an interface.
fn is_plain_object(s: &Value) -> bool {
  s.get("type").and_then(Value::as_str) == Some("object")
    && s.get("properties").is_some()
    && ["oneOf", "anyOf", "allOf", "enum", "const"].iter().all(|k| s.get(*k).is_none())
}

/// The members of an object type (properties, then the index signature), each line indented.
fn members(s: &Value, indent: &str) -> String {
  let mut out = String::new();
  let required: Vec<&str> = s
    .get("required")
    .and_then(Value::as_array)
    .map(|a| a.iter().filter_map(Value::as_str).collect())
    .unwrap_or_default();
  let empty = Map::new();
  let props = s.get("properties").and_then(Value::as_object).unwrap_or(&empty);
  let inner = format!("{indent}  ");
  let mut prop_types = Vec::new();
  for (key, p) in props {
    out.push_str(&jsdoc(p, indent));
    let opt = if required.contains(&key.as_str()) { "" } else { "?" };
    let t = ty(p, &inner);
    let _ = writeln!(out, "{indent}{}{opt}: {t}", prop_name(key));
    prop_types.push(t);
  }
  match s.get("additionalProperties") {
    Some(Value::Bool(false)) => {}
    // Absent or `true`: any other key with any value.
    None | Some(Value::Bool(true)) if !props.is_empty() => {
      let _ = writeln!(out, "{indent}[key: string]: unknown");
    }
    None | Some(Value::Bool(true)) => {}
    Some(extra) => {
      // TypeScript requires every named property to fit the index signature.
      let mut all = vec![ty(extra, &inner)];
      all.extend(prop_types);
      if !props.is_empty() {
        all.push("undefined".into());
      }
      let _ = writeln!(out, "{indent}[key: string]: {}", union(all));
    }
  }
  out
}

/// The TypeScript type of a schema; nested object literals are indented from `indent`.
fn ty(s: &Value, indent: &str) -> String {
  let o = match s {
    Value::Bool(true) => return "unknown".into(),
    Value::Bool(false) => return "never".into(),
    Value::Object(o) => o,
    _ => return "unknown".into(),
  };
  if let Some(r) = o.get("$ref").and_then(Value::as_str) {
    return r.rsplit('/').next().unwrap_or(r).to_string();
  }
  if let Some(c) = o.get("const") {
    return literal(c);
  }
  if let Some(e) = o.get("enum").and_then(Value::as_array) {
    return union(e.iter().map(literal).collect());
  }
  for key in ["oneOf", "anyOf"] {
    if let Some(alts) = o.get(key).and_then(Value::as_array) {
      return union(alts.iter().map(|a| ty(a, indent)).collect());
    }
  }
  if let Some(all) = o.get("allOf").and_then(Value::as_array) {
    let parts: Vec<String> = all.iter().map(|a| ty(a, indent)).collect();
    return if parts.len() == 1 { parts[0].clone() } else { parts.join(" & ") };
  }
  let types: Vec<&str> = match o.get("type") {
    Some(Value::String(t)) => vec![t.as_str()],
    Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
    _ => return "unknown".into(),
  };
  union(types.into_iter().map(|t| simple(t, s, indent)).collect())
}

/// The TypeScript type of one JSON type name within schema `s`.
fn simple(t: &str, s: &Value, indent: &str) -> String {
  match t {
    "string" => "string".into(),
    "integer" | "number" => "number".into(),
    "boolean" => "boolean".into(),
    "null" => "null".into(),
    "array" => {
      let item = s.get("items").map(|i| ty(i, indent)).unwrap_or_else(|| "unknown".into());
      if item.contains(' ') {
        format!("Array<{item}>")
      } else {
        format!("{item}[]")
      }
    }
    "object" => {
      let has_props = s.get("properties").and_then(Value::as_object).is_some_and(|p| !p.is_empty());
      match (has_props, s.get("additionalProperties")) {
        (false, Some(v @ Value::Object(_))) => format!("Record<string, {}>", ty(v, indent)),
        (false, Some(Value::Bool(false))) => "Record<string, never>".into(),
        (false, _) => "Record<string, unknown>".into(),
        (true, _) => format!("{{\n{}{indent}}}", members(s, &format!("{indent}  "))),
      }
    }
    _ => "unknown".into(),
  }
}

/// `a | b | c` without repeats (members that are unions themselves are flattened, unless they
/// hold an object literal); a single type stays as it is.
fn union(types: Vec<String>) -> String {
  let mut seen: Vec<String> = Vec::new();
  for t in types {
    let parts: Vec<String> = if t.contains('{') || t.contains('<') {
      vec![t]
    } else {
      t.split(" | ").map(str::to_string).collect()
    };
    for p in parts {
      if !seen.contains(&p) {
        seen.push(p);
      }
    }
  }
  seen.join(" | ")
}

/// A JSON value as a TypeScript literal type.
fn literal(v: &Value) -> String {
  match v {
    Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
    Value::Null => "null".into(),
    other => other.to_string(),
  }
}

/// A property name: bare when it is an identifier, else quoted.
fn prop_name(key: &str) -> String {
  let ident = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
    && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
  if ident {
    key.to_string()
  } else {
    format!("'{}'", key.replace('\'', "\\'"))
  }
}

/// A JSDoc block from `description` and `default`, indented; empty when there is neither.
fn jsdoc(s: &Value, indent: &str) -> String {
  let mut lines: Vec<String> = Vec::new();
  if let Some(d) = s.get("description").and_then(Value::as_str) {
    lines.extend(d.lines().map(|l| l.replace("*/", "*\\/")));
  }
  if let Some(d) = s.get("default") {
    // `null` is the default of every optional field: it says nothing; a whole section's defaults
    // are documented on its fields.
    let section = d.as_object().is_some_and(|o| !o.is_empty());
    if !d.is_null() && !section {
      lines.push(format!("@default {}", serde_json::to_string(d).expect("JSON")));
    }
  }
  if lines.is_empty() {
    return String::new();
  }
  if lines.len() == 1 {
    return format!("{indent}/** {} */\n", lines[0]);
  }
  let mut out = format!("{indent}/**\n");
  for l in lines {
    if l.is_empty() {
      let _ = writeln!(out, "{indent} *");
    } else {
      let _ = writeln!(out, "{indent} * {l}");
    }
  }
  let _ = writeln!(out, "{indent} */");
  out
}

#[cfg(test)]
mod tests {
  use super::*;
  use serde_json::json;

  #[test]
  fn schema_has_the_config_shape() {
    let s = json_schema();
    assert_eq!(s["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(s["required"], json!(["appName"]));
    assert_eq!(s["additionalProperties"], json!(false));
    assert!(s["properties"]["$schema"].is_object());
    let defs = s["definitions"].as_object().unwrap();
    for name in ["FrontendConfig", "BackendConfig", "DockerConfig", "AiConfig", "Database"] {
      assert!(defs.contains_key(name), "{name} missing: {:?}", defs.keys().collect::<Vec<_>>());
    }
    assert_eq!(s["properties"]["appName"]["pattern"], "^[a-z0-9][a-z0-9._-]*$");
    assert!(!json_schema_text().contains("\"format\": \"uint"));
  }

  #[test]
  fn typescript_types() {
    let ts = typescript();
    assert!(ts.contains("export interface FarmConfig {\n"), "{ts}");
    assert!(ts.contains("  appName: string\n"), "{ts}");
    assert!(ts.contains("  environment?: Environment\n"), "{ts}");
    assert!(ts.contains("export type Environment = 'production' | 'development' | 'staging'\n"));
    assert!(ts.contains("export type Database = 'mongo' | 'postgres' | 'none'\n"), "{ts}");
    assert!(ts.contains("  preBuild?: FarmPluginHooks['preBuild']\n"), "{ts}");
    assert!(ts.contains("  $schema?: string | null\n"), "{ts}");
    assert!(!ts.contains("uint"), "{ts}");
  }

  #[test]
  fn ty_covers_schema_forms() {
    assert_eq!(ty(&json!({ "type": ["string", "null"] }), ""), "string | null");
    assert_eq!(ty(&json!({ "type": "array", "items": { "type": "integer" } }), ""), "number[]");
    assert_eq!(
      ty(
        &json!({ "type": "array", "items": { "anyOf": [{ "type": "string" }, { "$ref": "#/definitions/X" }] } }),
        ""
      ),
      "Array<string | X>"
    );
    assert_eq!(
      ty(&json!({ "type": "object", "additionalProperties": { "type": "string" } }), ""),
      "Record<string, string>"
    );
    assert_eq!(ty(&json!({ "enum": ["a", "it's"] }), ""), "'a' | 'it\\'s'");
    assert_eq!(ty(&json!(true), ""), "unknown");
    assert_eq!(
      ty(
        &json!({ "type": "object", "properties": { "a-b": { "type": "boolean" } }, "required": ["a-b"], "additionalProperties": false }),
        ""
      ),
      "{\n  'a-b': boolean\n}"
    );
    let m = members(
      &json!({ "properties": { "x": { "$ref": "#/definitions/X" } }, "additionalProperties": { "$ref": "#/definitions/Y" } }),
      "",
    );
    assert_eq!(m, "x?: X\n[key: string]: Y | X | undefined\n");
    assert_eq!(union(vec!["A | null".into(), "B | null".into()]), "A | null | B");
    assert_eq!(
      jsdoc(&json!({ "description": "A.\n\nB", "default": 3 }), ""),
      "/**\n * A.\n *\n * B\n * @default 3\n */\n"
    );
  }
}
