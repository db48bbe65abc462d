//! JSDoc text for a schema/parameter/operation object, as openapi-typescript's
//! `addJSDocComment` builds it: title, summary, `Format:`, `@deprecated`, `@description`,
//! `@default`, `@example`, `@constant`, `@enum`. `*/` inside the text is escaped as `*\/`.

use serde_json::Value;

use super::js;

fn continue_lines(s: &str) -> String {
  // `.replace(/\r?\n/g, "\n *     ")`
  if !s.contains('\n') {
    return s.to_string();
  }
  s.replace("\r\n", "\n").replace('\n', "\n *     ")
}

fn serialize(v: &Value) -> String {
  match v {
    Value::Object(_) | Value::Array(_) | Value::Null => js::json_stringify_pretty(v),
    other => js::to_js_string(other),
  }
}

/// The comment text (between `/*` and `*/`) for `obj`, or `None` when there is nothing to say.
pub fn comment(obj: &Value) -> Option<String> {
  let map = obj.as_object()?;
  let mut output: Vec<String> = Vec::new();
  for key in ["title", "summary"] {
    if js::truthy(map.get(key)) {
      if let Some(Value::String(s)) = map.get(key) {
        output.push(continue_lines(js::trim(s)));
      } else if let Some(v) = map.get(key) {
        output.push(continue_lines(js::trim(&serialize(v))));
      }
    }
  }
  if js::truthy(map.get("format")) {
    if let Some(f) = map.get("format") {
      output.push(format!("Format: {}", serialize_plain(f)));
    }
  }
  if js::truthy(map.get("deprecated")) {
    output.push("@deprecated".to_string());
  }
  for field in ["description", "default", "example"] {
    let Some(v) = map.get(field) else { continue };
    if field == "description" && v.as_str() == Some("") {
      continue;
    }
    let s = serialize(v);
    output.push(format!("@{field} {}", continue_lines(js::trim(&s))));
  }
  if let Some(Value::Array(examples)) = map.get("examples") {
    for ex in examples {
      let s = serialize(ex);
      output.push(format!("@example {}", continue_lines(js::trim(&s))));
    }
  }
  if map.contains_key("const") {
    output.push("@constant".to_string());
  }
  if js::truthy(map.get("enum")) {
    let ty = match map.get("type") {
      Some(Value::Array(items)) => items.iter().map(js::to_js_string).collect::<Vec<_>>().join("|"),
      Some(Value::String(s)) => s.clone(),
      _ => "unknown".to_string(),
    };
    let nullable = if js::truthy(map.get("nullable")) { "|null" } else { "" };
    output.push(format!("@enum {{{ty}{nullable}}}"));
  }
  if output.is_empty() {
    return None;
  }
  let multi = output.iter().any(|o| o.contains('\n'));
  let text = if output.len() == 1 && !multi {
    format!("* {} ", output[0])
  } else {
    format!("*\n * {}\n ", output.join("\n * "))
  };
  Some(text.replace("*/", "*\\/"))
}

/// Template-literal interpolation (`${v}`) of a value: objects print as `[object Object]`.
fn serialize_plain(v: &Value) -> String {
  js::to_js_string(v)
}
