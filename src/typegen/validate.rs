//! Up-front checks: the root is an object with a 3.x `openapi` version, and every `$ref` is a
//! local pointer (`#/...`) to something that exists.

use serde_json::Value;

use super::refs;
use super::TypegenError;

/// JSON type name for messages.
pub fn type_name(v: &Value) -> &'static str {
  match v {
    Value::Null => "null",
    Value::Bool(_) => "a boolean",
    Value::Number(_) => "a number",
    Value::String(_) => "a string",
    Value::Array(_) => "an array",
    Value::Object(_) => "an object",
  }
}

/// Append a segment to an RFC 6901 pointer.
pub fn child(pointer: &str, key: &str) -> String {
  let mut p = String::with_capacity(pointer.len() + key.len() + 1);
  p.push_str(pointer);
  p.push('/');
  refs::push_escaped(&mut p, key);
  p
}

/// Validate the document root, version and references.
pub fn document(doc: &Value) -> Result<(), TypegenError> {
  let map = doc.as_object().ok_or(TypegenError::NotAnObject { found: type_name(doc) })?;
  let version = match map.get("openapi") {
    Some(Value::String(s)) => s.as_str(),
    Some(other) => {
      return Err(TypegenError::UnsupportedVersion { version: other.to_string() });
    }
    None => {
      let hint = if map.contains_key("swagger") {
        " (this is a Swagger 2.0 document: convert it to OpenAPI 3 first)".to_string()
      } else {
        String::new()
      };
      return Err(TypegenError::MissingVersion { hint });
    }
  };
  let mut parts = version.trim().split('.');
  let major = parts.next().unwrap_or("");
  let minor = parts.next().unwrap_or("");
  if major != "3" || !matches!(minor, "0" | "1") {
    return Err(TypegenError::UnsupportedVersion { version: version.to_string() });
  }
  check_refs(doc, doc, &mut Vec::new())
}

/// Keys whose values are data (examples, defaults, enum members), not OpenAPI objects.
fn is_data_key(key: &str) -> bool {
  matches!(key, "example" | "examples" | "default" | "const" | "enum") || key.starts_with("x-")
}

fn pointer_of(stack: &[&str]) -> String {
  let mut p = String::new();
  for seg in stack {
    p.push('/');
    refs::push_escaped(&mut p, seg);
  }
  p
}

/// Walk the document; `stack` holds the path segments (the pointer string is only built for a
/// `$ref` or an error, not for every node).
fn check_refs<'a>(
  doc: &Value,
  node: &'a Value,
  stack: &mut Vec<&'a str>,
) -> Result<(), TypegenError> {
  match node {
    Value::Object(map) => {
      if let Some(r) = map.get("$ref") {
        match r {
          Value::String(s) => {
            stack.push("$ref");
            let at = pointer_of(stack);
            stack.pop();
            check_ref(doc, s, &at)?
          }
          // A property literally named `$ref` inside `properties` is a schema, not a reference.
          Value::Object(_) => {}
          other => {
            stack.push("$ref");
            let at = pointer_of(stack);
            stack.pop();
            return Err(TypegenError::InvalidRef {
              pointer: at,
              message: format!("expected a string, found {}", type_name(other)),
            });
          }
        }
      }
      for (k, v) in map {
        if k == "$ref" || is_data_key(k) || !(v.is_object() || v.is_array()) {
          continue;
        }
        stack.push(k);
        check_refs(doc, v, stack)?;
        stack.pop();
      }
      Ok(())
    }
    Value::Array(items) => {
      const INDEX: [&str; 16] =
        ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15"];
      for (i, v) in items.iter().enumerate() {
        if !(v.is_object() || v.is_array()) {
          continue;
        }
        let idx = match INDEX.get(i) {
          Some(s) => check_refs_at(doc, v, stack, s),
          None => {
            let owned = i.to_string();
            let mut local: Vec<&str> = stack.clone();
            local.push(&owned);
            check_refs(doc, v, &mut local)
          }
        };
        idx?;
      }
      Ok(())
    }
    _ => Ok(()),
  }
}

fn check_refs_at<'a>(
  doc: &Value,
  v: &'a Value,
  stack: &mut Vec<&'a str>,
  seg: &'static str,
) -> Result<(), TypegenError> {
  stack.push(seg);
  let r = check_refs(doc, v, stack);
  stack.pop();
  r
}

fn check_ref(doc: &Value, r: &str, at: &str) -> Result<(), TypegenError> {
  let mut seen: Vec<&str> = Vec::new();
  let mut current = r;
  loop {
    let target = resolve_local(doc, current, at)?;
    // Follow `$ref` → `$ref` chains: a chain that comes back to itself has no type at all.
    match target.get("$ref").and_then(Value::as_str) {
      Some(next) if next.starts_with('#') => {
        if seen.contains(&next) || next == r {
          return Err(TypegenError::CircularRef {
            pointer: at.to_string(),
            reference: r.to_string(),
          });
        }
        seen.push(next);
        current = next;
      }
      _ => return Ok(()),
    }
  }
}

fn resolve_local<'a>(doc: &'a Value, r: &str, at: &str) -> Result<&'a Value, TypegenError> {
  let Some(fragment) = r.strip_prefix('#') else {
    return Err(TypegenError::ExternalRef { pointer: at.to_string(), reference: r.to_string() });
  };
  if fragment.is_empty() || fragment == "/" {
    return Err(TypegenError::InvalidRef {
      pointer: at.to_string(),
      message: format!("`{r}` refers to the whole document; point at a component instead"),
    });
  }
  let Some(path) = fragment.strip_prefix('/') else {
    return Err(TypegenError::InvalidRef {
      pointer: at.to_string(),
      message: format!("`{r}` is not a JSON pointer (anchors are not supported)"),
    });
  };
  let mut node = doc;
  for raw in path.split('/') {
    let seg = refs::unescape_segment(raw);
    let next = match node {
      Value::Object(m) => m.get(&seg),
      Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
      _ => None,
    };
    match next {
      Some(n) => node = n,
      None => {
        return Err(TypegenError::MissingRef { pointer: at.to_string(), reference: r.to_string() })
      }
    }
  }
  Ok(node)
}
