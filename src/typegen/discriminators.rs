//! Port of openapi-typescript's `scanDiscriminators`: finds every `discriminator`, rewrites the
//! discriminator property of each mapped subtype to a required single-value string enum, and
//! records which schemas inherit a discriminator through `allOf`.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use super::js;
use super::refs;

/// What the schema transform needs to know about discriminators.
#[derive(Debug, Default)]
pub struct Discriminators {
  /// Discriminator objects keyed by the `#/...` pointer of the schema that has or inherits one.
  pub objects: HashMap<String, Value>,
  /// Schemas whose discriminator property was already patched in.
  pub refs_handled: HashSet<String>,
}

fn path_segments(
  node: &Value,
  path: &mut Vec<String>,
  out: &mut Vec<Vec<String>>,
  pred: &dyn Fn(&Value) -> bool,
) {
  match node {
    Value::Array(items) => {
      for (i, v) in items.iter().enumerate() {
        path.push(i.to_string());
        path_segments(v, path, out, pred);
        path.pop();
      }
    }
    Value::Object(map) => {
      if pred(node) {
        out.push(path.clone());
      }
      for (k, v) in js::entries(map) {
        path.push(k.clone());
        path_segments(v, path, out, pred);
        path.pop();
      }
    }
    _ => {}
  }
}

fn walk_collect(doc: &Value, pred: &dyn Fn(&Value) -> bool) -> Vec<Vec<String>> {
  let mut out = Vec::new();
  path_segments(doc, &mut Vec::new(), &mut out, pred);
  out
}

fn node_at<'a>(doc: &'a Value, path: &[String]) -> Option<&'a Value> {
  let mut node = doc;
  for k in path {
    node = match node {
      Value::Object(m) => m.get(k)?,
      Value::Array(a) => a.get(k.parse::<usize>().ok()?)?,
      _ => return None,
    };
  }
  Some(node)
}

fn ref_of(path: &[String]) -> String {
  let parts: Vec<&str> = path.iter().map(String::as_str).collect();
  refs::create_ref(&parts)
}

fn discriminator_enum(values: &[String], prev: Option<&Value>) -> Value {
  let description = match prev.and_then(|p| p.get("description")) {
    Some(d) if js::truthy(Some(d)) => {
      format!("{} (enum property replaced by openapi-typescript)", js::to_js_string(d))
    }
    _ => "discriminator enum property added by openapi-typescript".to_string(),
  };
  json!({ "type": "string", "enum": values, "description": description })
}

fn patch(doc: &mut Value, r: &str, values: &[String], prop: &str) -> bool {
  let Some((pointer, _)) = refs::resolve(doc, r) else { return false };
  let Some(target) = refs::get_mut(doc, &pointer) else { return false };
  let Some(obj) = target.as_object_mut() else { return false };
  if js::truthy(obj.get("allOf")) {
    if let Some(Value::Array(all_of)) = obj.get_mut("allOf") {
      let mut props = Map::new();
      props.insert(prop.to_string(), discriminator_enum(values, None));
      all_of
        .push(json!({ "type": "object", "required": [prop], "properties": Value::Object(props) }));
      return true;
    }
    return false;
  }
  if obj.get("type").and_then(Value::as_str) != Some("object") {
    return false;
  }
  if !js::truthy(obj.get("properties")) {
    obj.insert("properties".to_string(), Value::Object(Map::new()));
  }
  match obj.get_mut("required") {
    Some(Value::Array(req)) => {
      if !req.iter().any(|r| r.as_str() == Some(prop)) {
        req.push(Value::String(prop.to_string()));
      }
    }
    Some(v) if js::truthy(Some(v)) => {}
    _ => {
      obj.insert("required".to_string(), json!([prop]));
    }
  }
  if let Some(Value::Object(props)) = obj.get_mut("properties") {
    let e = discriminator_enum(values, props.get(prop));
    props.insert(prop.to_string(), e);
    return true;
  }
  false
}

/// Whether any object in `doc` has a `discriminator` key (cheap pre-check for [`scan`]).
pub fn present(doc: &Value) -> bool {
  match doc {
    Value::Object(m) => m.contains_key("discriminator") || m.values().any(present),
    Value::Array(a) => a.iter().any(present),
    _ => false,
  }
}

/// Scan and patch `doc` in place.
pub fn scan(doc: &mut Value) -> Discriminators {
  let mut d = Discriminators::default();
  let has_disc = |v: &Value| {
    v.get("discriminator").and_then(|x| x.get("propertyName")).is_some_and(|p| js::truthy(Some(p)))
  };
  for path in walk_collect(doc, &has_disc) {
    let Some(node) = node_at(doc, &path) else { continue };
    let Some(disc) = node.get("discriminator").cloned() else { continue };
    let r = ref_of(&path);
    d.objects.insert(r, disc.clone());
    let Some(Value::Array(one_of)) = node.get("oneOf") else { continue };
    let prop = js::to_js_string(disc.get("propertyName").unwrap_or(&Value::Null));
    // mappedRef -> (inferred, defined)
    let mut order: Vec<String> = Vec::new();
    let mut mapping: HashMap<String, (Option<String>, Option<Vec<String>>)> = HashMap::new();
    for item in one_of {
      if let Some(Value::String(iref)) = item.get("$ref") {
        let value = iref.rsplit('/').next().unwrap_or("").to_string();
        if !value.is_empty() {
          if !mapping.contains_key(iref) {
            order.push(iref.clone());
          }
          mapping.entry(iref.clone()).or_default().0 = Some(value);
        }
      }
    }
    if let Some(Value::Object(m)) = disc.get("mapping") {
      for (value, mref) in js::entries(m) {
        let Some(mref) = mref.as_str().filter(|s| !s.is_empty()) else { continue };
        let entry_defined = mapping.get(mref).is_some_and(|e| e.1.is_some());
        if !entry_defined {
          if !mapping.contains_key(mref) {
            order.push(mref.to_string());
          }
          mapping.insert(mref.to_string(), (None, Some(Vec::new())));
        }
        if let Some((_, Some(defined))) = mapping.get_mut(mref) {
          defined.push(value.clone());
        }
      }
    }
    for mref in order {
      if d.refs_handled.contains(&mref) {
        continue;
      }
      let Some((inferred, defined)) = mapping.get(&mref).cloned() else { continue };
      let values = match (defined, inferred) {
        (Some(def), _) => def,
        (None, Some(inf)) => vec![inf],
        (None, None) => continue,
      };
      if patch(doc, &mref, &values, &prop) {
        d.refs_handled.insert(mref);
      }
    }
  }
  let has_all_of = |v: &Value| matches!(v.get("allOf"), Some(Value::Array(_)));
  for path in walk_collect(doc, &has_all_of) {
    let Some(Value::Array(all_of)) = node_at(doc, &path).and_then(|n| n.get("allOf")).cloned()
    else {
      continue;
    };
    let here = ref_of(&path);
    for item in &all_of {
      if let Some(iref) = item.get("$ref") {
        let iref = js::to_js_string(iref);
        let Some(disc) = d.objects.get(&iref).cloned() else { break };
        let mut values = Vec::new();
        if let Some(Value::Object(m)) = disc.get("mapping") {
          for (value, mref) in js::entries(m) {
            if mref.as_str() == Some(here.as_str()) {
              values.push(value.clone());
            }
          }
        }
        if !values.is_empty() {
          let prop = js::to_js_string(disc.get("propertyName").unwrap_or(&Value::Null));
          if patch(doc, &here, &values, &prop) {
            d.refs_handled.insert(here.clone());
          }
        }
        d.objects.insert(here.clone(), disc);
      } else if let Some(disc) = item.get("discriminator") {
        if disc.get("propertyName").is_some_and(|p| js::truthy(Some(p))) {
          d.objects.insert(here.clone(), disc.clone());
        }
      }
    }
  }
  d
}
