//! A small block-style YAML emitter with ordered maps. Strings are always double-quoted with JSON
//! escapes (valid YAML 1.1/1.2), so no value can be misread as a number, boolean or null.

/// A YAML node.
#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
  /// A string scalar (always quoted).
  Str(String),
  /// An integer scalar.
  Int(i64),
  /// A boolean scalar.
  Bool(bool),
  /// A sequence.
  Seq(Vec<Yaml>),
  /// A mapping in insertion order.
  Map(Vec<(String, Yaml)>),
}

impl Yaml {
  /// A string node.
  pub fn s(v: impl Into<String>) -> Yaml {
    Yaml::Str(v.into())
  }

  /// A sequence of strings.
  pub fn strs<I, S>(items: I) -> Yaml
  where
    I: IntoIterator<Item = S>,
    S: Into<String>,
  {
    Yaml::Seq(items.into_iter().map(|s| Yaml::Str(s.into())).collect())
  }

  /// A mapping from `(key, node)` pairs.
  pub fn map<I, K>(entries: I) -> Yaml
  where
    I: IntoIterator<Item = (K, Yaml)>,
    K: Into<String>,
  {
    Yaml::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
  }
}

/// Renders a document (no `---` marker), ending with a newline.
pub fn to_string(doc: &Yaml) -> String {
  let mut out = String::new();
  match doc {
    Yaml::Map(entries) if !entries.is_empty() => write_map(&mut out, entries, 0),
    Yaml::Seq(items) if !items.is_empty() => write_seq(&mut out, items, 0),
    other => {
      out.push_str(&scalar(other));
      out.push('\n');
    }
  }
  out
}

/// Renders several documents separated by `---`.
pub fn to_multi_doc(docs: &[Yaml]) -> String {
  docs.iter().map(to_string).collect::<Vec<_>>().join("---\n")
}

fn quote(s: &str) -> String {
  // serde_json string escaping is a subset of YAML double-quoted escaping.
  serde_json::Value::String(s.to_string()).to_string()
}

fn key(k: &str) -> String {
  const RESERVED: &[&str] =
    &["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "<<"];
  let plain = !k.is_empty()
    && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
    && k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
    && !RESERVED.contains(&k.to_ascii_lowercase().as_str());
  if plain {
    k.to_string()
  } else {
    quote(k)
  }
}

/// Inline form of a scalar or an empty collection.
fn scalar(v: &Yaml) -> String {
  match v {
    Yaml::Str(s) => quote(s),
    Yaml::Int(i) => i.to_string(),
    Yaml::Bool(b) => b.to_string(),
    Yaml::Seq(_) => "[]".to_string(),
    Yaml::Map(_) => "{}".to_string(),
  }
}

fn is_block(v: &Yaml) -> bool {
  matches!(v, Yaml::Seq(s) if !s.is_empty()) || matches!(v, Yaml::Map(m) if !m.is_empty())
}

fn write_map(out: &mut String, entries: &[(String, Yaml)], indent: usize) {
  for (i, (k, v)) in entries.iter().enumerate() {
    // The first entry of a map inside a sequence item follows "- " directly.
    if !(i == 0 && out.ends_with("- ")) {
      out.push_str(&" ".repeat(indent));
    }
    out.push_str(&key(k));
    out.push(':');
    match v {
      Yaml::Map(m) if !m.is_empty() => {
        out.push('\n');
        write_map(out, m, indent + 2);
      }
      Yaml::Seq(s) if !s.is_empty() => {
        out.push('\n');
        write_seq(out, s, indent + 2);
      }
      other => {
        out.push(' ');
        out.push_str(&scalar(other));
        out.push('\n');
      }
    }
  }
}

fn write_seq(out: &mut String, items: &[Yaml], indent: usize) {
  for item in items {
    out.push_str(&" ".repeat(indent));
    out.push_str("- ");
    match item {
      Yaml::Map(m) if !m.is_empty() => write_map(out, m, indent + 2),
      Yaml::Seq(s) if !s.is_empty() => {
        out.push('\n');
        write_seq(out, s, indent + 2);
      }
      other => {
        debug_assert!(!is_block(other));
        out.push_str(&scalar(other));
        out.push('\n');
      }
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn emits_nested_block_yaml() {
    let doc = Yaml::map([
      ("version", Yaml::s("3.8")),
      (
        "services",
        Yaml::map([(
          "app",
          Yaml::map([
            ("ports", Yaml::strs(["8000:8000"])),
            ("empty", Yaml::Map(vec![])),
            ("none", Yaml::Seq(vec![])),
            ("on", Yaml::Bool(true)),
            ("n", Yaml::Int(3)),
            (
              "list",
              Yaml::Seq(vec![
                Yaml::map([("a", Yaml::s("x\"y\n")), ("b", Yaml::Int(1))]),
                Yaml::Seq(vec![Yaml::s("inner")]),
              ]),
            ),
          ]),
        )]),
      ),
    ]);
    let text = to_string(&doc);
    let expected = r#"version: "3.8"
services:
  app:
    ports:
      - "8000:8000"
    empty: {}
    none: []
    "on": true
    "n": 3
    list:
      - a: "x\"y\n"
        b: 1
      - 
        - "inner"
"#;
    assert_eq!(text, expected);
    // Round trip through a real YAML parser.
    let parsed: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(parsed["services"]["app"]["ports"][0].as_str(), Some("8000:8000"));
    assert_eq!(parsed["services"]["app"]["on"].as_bool(), Some(true));
    assert_eq!(parsed["services"]["app"]["list"][0]["a"].as_str(), Some("x\"y\n"));
    assert_eq!(parsed["services"]["app"]["list"][1][0].as_str(), Some("inner"));
  }

  #[test]
  fn multi_doc_and_scalars() {
    let text =
      to_multi_doc(&[Yaml::map([("a", Yaml::Int(1))]), Yaml::map([("b", Yaml::s("yes"))])]);
    assert_eq!(text, "a: 1\n---\nb: \"yes\"\n");
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
      .map(|d| serde::Deserialize::deserialize(d).unwrap())
      .collect();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[1]["b"].as_str(), Some("yes"));
  }
}
