//! `$ref` and pointer helpers mirroring `@redocly/openapi-core`'s `parseRef`/`escapePointer`
//! and openapi-typescript's `createRef`/`resolveRef`/`oapiRef`.

use serde_json::Value;

use super::ast::Ty;

/// `decodeURIComponent`, leaving malformed escapes untouched.
pub fn percent_decode(s: &str) -> String {
  if !s.contains('%') {
    return s.to_string();
  }
  let b = s.as_bytes();
  let mut out: Vec<u8> = Vec::with_capacity(b.len());
  let mut i = 0;
  while i < b.len() {
    if b[i] == b'%' && i + 2 < b.len() {
      let hex =
        std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
      if let Some(v) = hex {
        out.push(v);
        i += 3;
        continue;
      }
    }
    out.push(b[i]);
    i += 1;
  }
  String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// RFC 6901 unescape plus URI-fragment decoding (`unescapePointer`).
pub fn unescape_segment(s: &str) -> String {
  if !s.contains(['~', '%']) {
    return s.to_string();
  }
  percent_decode(&s.replace("~1", "/").replace("~0", "~"))
}

/// RFC 6901 escape (`escapePointer`).
pub fn escape_segment(s: &str) -> String {
  if !s.contains(['~', '/']) {
    return s.to_string();
  }
  s.replace('~', "~0").replace('/', "~1")
}

/// Append one escaped segment to `out`.
pub fn push_escaped(out: &mut String, s: &str) {
  if !s.contains(['~', '/']) {
    out.push_str(s);
  } else {
    out.push_str(&escape_segment(s));
  }
}

/// The pointer segments of a `$ref` (`parseRef(ref).pointer`): the part after the first `#/`,
/// split on `/`, unescaped, empty segments dropped.
pub fn ref_pointer(r: &str) -> Vec<String> {
  let mut parts = r.split("#/");
  let _uri = parts.next();
  let pointer = parts.next().unwrap_or("");
  pointer.split('/').map(unescape_segment).filter(|s| !s.is_empty()).collect()
}

/// openapi-typescript's `createRef`: joins parts into `#/a/b`, re-parsing parts that are refs.
pub fn create_ref(parts: &[&str]) -> String {
  // Fast path: extending a pointer this module built (already normalized) with plain keys gives
  // the same string as re-parsing and re-escaping it.
  if let Some((base, rest)) = parts.split_first() {
    let normalized =
      base.starts_with("#/") && !base.contains('%') && base.matches("#/").count() == 1;
    if normalized && rest.iter().all(|p| !p.is_empty() && !p.contains("#/")) {
      let mut p =
        String::with_capacity(base.len() + rest.iter().map(|r| r.len() + 1).sum::<usize>());
      p.push_str(base);
      for part in rest {
        p.push('/');
        push_escaped(&mut p, part);
      }
      return p;
    }
  }
  let mut p = String::from("#");
  for part in parts {
    if part.is_empty() {
      continue;
    }
    let segs = ref_pointer(part);
    if segs.is_empty() {
      p.push('/');
      p.push_str(&escape_segment(part));
    } else {
      for s in segs {
        p.push('/');
        p.push_str(&escape_segment(&s));
      }
    }
  }
  p
}

fn js_index<'a>(node: &'a Value, key: &str) -> Option<&'a Value> {
  match node {
    Value::Object(m) => m.get(key),
    Value::Array(a) => {
      key.parse::<usize>().ok().filter(|i| i.to_string() == key).and_then(|i| a.get(i))
    }
    _ => None,
  }
}

/// openapi-typescript's `resolveRef`: walks the pointer (every step must be truthy) and follows
/// chained `$ref`s, refusing cycles. Returns the final pointer segments and the node.
pub fn resolve<'a>(doc: &'a Value, r: &str) -> Option<(Vec<String>, &'a Value)> {
  let mut visited: Vec<String> = Vec::new();
  let mut current = r.to_string();
  loop {
    let pointer = ref_pointer(&current);
    if pointer.is_empty() {
      return None;
    }
    let mut node = doc;
    for key in &pointer {
      match js_index(node, key) {
        Some(next) if super::js::truthy(Some(next)) => node = next,
        _ => return None,
      }
    }
    match node.get("$ref").and_then(Value::as_str) {
      Some(next) if node.is_object() && !next.is_empty() => {
        if visited.iter().any(|v| v == next) {
          return None;
        }
        visited.push(next.to_string());
        current = next.to_string();
      }
      _ => return Some((pointer, node)),
    }
  }
}

/// Mutable access to the node at already-resolved pointer segments.
pub fn get_mut<'a>(doc: &'a mut Value, pointer: &[String]) -> Option<&'a mut Value> {
  let mut node = doc;
  for key in pointer {
    node = match node {
      Value::Object(m) => m.get_mut(key)?,
      Value::Array(a) => {
        let i = key.parse::<usize>().ok()?;
        a.get_mut(i)?
      }
      _ => return None,
    };
  }
  Some(node)
}

/// openapi-typescript's `oapiRef`: `#/components/schemas/X` → `components["schemas"]["X"]`,
/// skipping `properties` segments after the third. `param` is the resolved parameter object
/// (`in`, `name`) when the ref points at one.
pub fn oapi_ref(r: &str, param: Option<(&str, &str)>) -> Option<Ty> {
  let pointer = ref_pointer(r);
  let (first, rest) = pointer.split_first()?;
  let mut ty = Ty::Ref(first.clone(), Vec::new());
  for seg in rest.iter().take(2) {
    ty = Ty::Index(Box::new(ty), seg.clone());
  }
  let tail: Vec<&String> = rest.iter().skip(2).collect();
  let last = tail.len().saturating_sub(1);
  for (i, seg) in tail.iter().enumerate() {
    if seg.as_str() == "properties" {
      continue;
    }
    if let (Some((pin, pname)), true) = (param, i == last) {
      ty = Ty::Index(Box::new(Ty::Index(Box::new(ty), pin.to_string())), pname.to_string());
      continue;
    }
    ty = Ty::Index(Box::new(ty), (*seg).clone());
  }
  Some(ty)
}
