//! Schema Object → TypeScript type (port of openapi-typescript's `transformSchemaObject`).
//!
//! Two locations travel with every call: `path`, openapi-typescript's own `#/...` pointer (it
//! omits `properties`, `items`, `allOf/N` and drives `defaultNonNullable` and discriminator
//! look-ups), and `loc`, the real RFC 6901 pointer used in error messages.

use serde_json::{Map, Value};

use super::ast::{self, Member, MemberKind, PropName, Ty};
use super::discriminators::Discriminators;
use super::js;
use super::jsdoc;
use super::refs;
use super::validate::{child, type_name};
use super::TypegenError;

/// Declarations appended after `$defs`, in first-use order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Footer {
  /// `export interface operations { ... }`
  Operations,
  /// `type WithRequired<T, K extends keyof T> = ...`
  WithRequired,
}

/// Transformation state shared by all transforms.
pub struct Ctx<'a> {
  /// The (discriminator-patched) document, for `$ref` resolution.
  pub doc: &'a Value,
  /// Discriminator scan results.
  pub disc: Discriminators,
  /// Footer declarations in insertion order.
  pub footer: Vec<Footer>,
  /// Members of `interface operations`.
  pub operations: Vec<Member>,
  /// operationId → pointer of its first use (duplicate detection).
  pub operation_ids: std::collections::HashMap<String, String>,
}

type Result<T> = std::result::Result<T, TypegenError>;

/// A [`TypegenError::Invalid`] at `loc`.
pub fn invalid(loc: &str, message: String) -> TypegenError {
  TypegenError::Invalid { pointer: loc.to_string(), message }
}

/// A `$ref` value turned into a type (refs were validated up front).
pub fn ref_type(r: &Value, loc: &str, param: Option<(&str, &str)>) -> Result<Ty> {
  let s = r.as_str().ok_or_else(|| TypegenError::InvalidRef {
    pointer: child(loc, "$ref"),
    message: format!("expected a string, found {}", type_name(r)),
  })?;
  refs::oapi_ref(s, param).ok_or_else(|| TypegenError::InvalidRef {
    pointer: child(loc, "$ref"),
    message: format!("`{s}` has no path after `#/`"),
  })
}

/// openapi-typescript's `tsLiteral`.
pub fn literal(v: &Value) -> Ty {
  match v {
    Value::String(s) => Ty::Raw(js::json_quote(s)),
    Value::Number(n) => Ty::Raw(js::number_to_string(js::json_number(n))),
    Value::Bool(true) => Ty::Kw(ast::Kw::True),
    Value::Bool(false) => Ty::Kw(ast::Kw::False),
    Value::Null => ast::NULL,
    Value::Array(items) => {
      if items.is_empty() {
        Ty::Array(Box::new(ast::NEVER))
      } else {
        Ty::Tuple(items.iter().map(literal).collect())
      }
    }
    Value::Object(map) => {
      if map.is_empty() {
        return ast::record(ast::STRING, ast::NEVER);
      }
      Ty::Object(
        js::entries(map)
          .into_iter()
          .map(|(k, v)| Member::prop(ast::prop_name(k), false, literal(v)))
          .collect(),
      )
    }
  }
}

fn with_comment(mut m: Member, source: &Value) -> Member {
  m.comment = jsdoc::comment(source);
  m
}

fn str_array(v: Option<&Value>) -> Vec<String> {
  match v {
    Some(Value::Array(items)) => {
      items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect()
    }
    _ => Vec::new(),
  }
}

fn array_of<'v>(v: Option<&'v Value>, loc: &str, key: &str) -> Result<&'v [Value]> {
  match v {
    None | Some(Value::Null) => Ok(&[]),
    Some(Value::Array(items)) => Ok(items),
    Some(other) => Err(invalid(
      &child(loc, key),
      format!("`{key}` must be an array, found {}", type_name(other)),
    )),
  }
}

impl<'a> Ctx<'a> {
  /// `transformSchemaObject` (no postTransform hook).
  pub fn schema(&mut self, schema: &Value, path: &str, loc: &str) -> Result<Ty> {
    let obj = match schema {
      Value::Object(m) => m,
      Value::Bool(true) => return Ok(ast::UNKNOWN),
      v if !js::truthy(Some(v)) => return Ok(ast::NEVER),
      other => {
        return Err(invalid(loc, format!("expected a Schema Object, found {}", type_name(other))));
      }
    };
    if let Some(r) = obj.get("$ref") {
      return ref_type(r, loc, None);
    }
    if let Some(c) = obj.get("const").filter(|c| !c.is_null()) {
      return Ok(literal(c));
    }
    if let Some(Value::Array(values)) = obj.get("enum") {
      if obj.get("type").and_then(Value::as_str) != Some("object")
        && !obj.contains_key("properties")
        && !obj.contains_key("additionalProperties")
      {
        let mut types: Vec<Ty> = values.iter().map(literal).collect();
        let type_has_null = matches!(obj.get("type"), Some(Value::Array(t)) if t.iter().any(|x| x.as_str() == Some("null")));
        if type_has_null || js::truthy(obj.get("nullable")) {
          types.push(ast::NULL);
        }
        return Ok(ast::union(types));
      }
    }

    let mut final_type: Option<Ty> = None;
    let core = self.core(obj, path, loc)?;
    let required = str_array(obj.get("required"));
    let all_of = self.all_of(array_of(obj.get("allOf"), loc, "allOf")?, &required, path, loc)?;
    if core.is_some() || !all_of.is_empty() {
      let mut parts = Vec::new();
      parts.extend(core);
      if !all_of.is_empty() {
        parts.push(ast::intersection(all_of));
      }
      final_type = Some(ast::intersection(parts));
    }
    let any_of = self.union_items(array_of(obj.get("anyOf"), loc, "anyOf")?, "anyOf", path, loc)?;
    if !any_of.is_empty() {
      let mut parts: Vec<Ty> = final_type.take().into_iter().collect();
      parts.extend(any_of);
      final_type = Some(ast::union(parts));
    }
    let one_of_src: &[Value] = if js::truthy(obj.get("oneOf")) {
      array_of(obj.get("oneOf"), loc, "oneOf")?
    } else if obj.get("type").and_then(Value::as_str) == Some("object")
      && js::truthy(obj.get("enum"))
    {
      array_of(obj.get("enum"), loc, "enum")?
    } else {
      &[]
    };
    let one_of_key = if js::truthy(obj.get("oneOf")) { "oneOf" } else { "enum" };
    let one_of = self.union_items(one_of_src, one_of_key, path, loc)?;
    if !one_of.is_empty() {
      let mut parts: Vec<Ty> = final_type.take().into_iter().collect();
      if one_of.iter().all(ast::is_primitive) {
        parts.extend(one_of);
        final_type = Some(ast::union(parts));
      } else {
        parts.push(ast::union(one_of));
        final_type = Some(ast::intersection(parts));
      }
    }
    let final_type = match final_type {
      Some(t) => t,
      None if obj.contains_key("type") => ast::record(ast::STRING, ast::NEVER),
      None => ast::UNKNOWN,
    };
    if final_type != ast::UNKNOWN && js::truthy(obj.get("nullable")) {
      return Ok(Ty::Union(vec![final_type, ast::NULL]));
    }
    Ok(final_type)
  }

  fn union_items(&mut self, items: &[Value], key: &str, path: &str, loc: &str) -> Result<Vec<Ty>> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
      let idx = i.to_string();
      let p = refs::create_ref(&[path, if key == "enum" { "oneOf" } else { key }, &idx]);
      out.push(self.schema(item, &p, &child(&child(loc, key), &idx))?);
    }
    Ok(out)
  }

  fn all_of(
    &mut self,
    items: &[Value],
    required: &[String],
    path: &str,
    loc: &str,
  ) -> Result<Vec<Ty>> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
      let item_loc = child(&child(loc, "allOf"), &i.to_string());
      let item_ref = item.get("$ref");
      let mut item_type;
      if let Some(r) = item_ref {
        item_type = self.schema(item, path, &item_loc)?;
        let rs = js::to_js_string(r);
        let resolved = refs::resolve(self.doc, &rs).map(|(_, n)| n);
        if let Some(Value::Object(res)) = resolved {
          if res.contains_key("properties") && !self.disc.refs_handled.contains(&rs) {
            let props = res.get("properties").and_then(Value::as_object);
            let valid: Vec<&String> = required
              .iter()
              .filter(|k| props.is_some_and(|p| js::truthy(p.get(k.as_str()))))
              .collect();
            if !valid.is_empty() {
              if !self.footer.contains(&Footer::WithRequired) {
                self.footer.push(Footer::WithRequired);
              }
              let keys = ast::union(valid.iter().map(|k| Ty::Raw(js::json_quote(k))).collect());
              item_type = Ty::Ref("WithRequired".to_string(), vec![item_type, keys]);
            }
          }
        }
      } else {
        let mut item_required: Vec<Value> = required.iter().cloned().map(Value::String).collect();
        if let Some(Value::Array(r)) = item.get("required") {
          item_required.extend(r.iter().cloned());
        }
        let mut patched = match item {
          Value::Object(m) => m.clone(),
          _ => Map::new(),
        };
        patched.insert("required".to_string(), Value::Array(item_required));
        item_type = self.schema(&Value::Object(patched), path, &item_loc)?;
      }
      let disc = item_ref
        .and_then(|r| self.disc.objects.get(&js::to_js_string(r)).cloned())
        .or_else(|| item.get("discriminator").filter(|d| js::truthy(Some(d))).cloned());
      match disc {
        Some(d) => {
          let prop = d.get("propertyName").cloned().unwrap_or(Value::Null);
          out.push(Ty::Ref("Omit".to_string(), vec![item_type, Ty::Union(vec![literal(&prop)])]));
        }
        None => out.push(item_type),
      }
    }
    Ok(out)
  }

  fn core(&mut self, obj: &Map<String, Value>, path: &str, loc: &str) -> Result<Option<Ty>> {
    if let Some(t) = obj.get("type").filter(|t| js::truthy(Some(t))) {
      match t {
        Value::String(s) => match s.as_str() {
          "null" => return Ok(Some(ast::NULL)),
          "string" => return Ok(Some(ast::STRING)),
          "number" | "integer" => return Ok(Some(ast::NUMBER)),
          "boolean" => return Ok(Some(ast::BOOLEAN)),
          "array" => return self.array(obj, path, loc).map(Some),
          _ => {}
        },
        Value::Array(types) => {
          let one_of = obj.get("oneOf").and_then(Value::as_array);
          let mut unique = Vec::with_capacity(types.len());
          for t in types {
            if t.is_null() || t.as_str() == Some("null") {
              if let Some(one_of) = one_of {
                if one_of.iter().any(|o| o.get("type") == Some(t)) {
                  continue;
                }
              }
              unique.push(ast::NULL);
              continue;
            }
            if let Some(one_of) = one_of {
              let simple = matches!(t.as_str(), Some("boolean" | "string" | "number" | "integer"));
              if simple && one_of.iter().any(|o| o.is_object() && o.get("type") == Some(t)) {
                continue;
              }
            }
            let mut variant = obj.clone();
            variant.insert("type".to_string(), t.clone());
            if one_of.is_some() {
              variant.remove("oneOf");
            }
            unique.push(self.schema(&Value::Object(variant), path, loc)?);
          }
          return Ok(Some(ast::union(unique)));
        }
        _ => {}
      }
    }

    let mut members: Vec<Member> = Vec::new();
    if js::truthy(obj.get("allOf")) || js::truthy(obj.get("anyOf")) {
      let own = js::truthy(obj.get("discriminator"));
      if !own && !self.disc.refs_handled.contains(path) {
        if let Some(d) = self.disc.objects.get(path) {
          members.push(discriminator_property(d, path));
        }
      }
    }

    let props = obj.get("properties").and_then(Value::as_object).filter(|p| !p.is_empty());
    let has_object_shape = props.is_some()
      || js::truthy(obj.get("additionalProperties"))
      || js::truthy(obj.get("patternProperties"))
      || js::truthy(obj.get("$defs"));
    if !has_object_shape {
      return Ok(if members.is_empty() { None } else { Some(Ty::Object(members)) });
    }
    let required = obj.get("required").and_then(Value::as_array);
    let in_params_or_body =
      path.contains("parameters") || path.contains("requestBody") || path.contains("requestBodies");
    if let Some(props) = props {
      let props_loc = child(loc, "properties");
      for (k, v) in js::entries(props) {
        let v_loc = child(&props_loc, k);
        let vo = match v {
          Value::Object(m) => Some(m),
          Value::Bool(_) => None,
          other => {
            return Err(invalid(
              &v_loc,
              format!(
                "invalid property `{k}`: expected a Schema Object or boolean, found {}",
                type_name(other)
              ),
            ))
          }
        };
        let has_default = vo.is_some_and(|m| m.contains_key("default"));
        let read_only = vo.is_some_and(|m| js::truthy(m.get("readOnly")));
        let is_required =
          required.is_some_and(|r| r.iter().any(|x| x.as_str() == Some(k.as_str())));
        let optional = !(is_required || (has_default && !in_params_or_body));
        let ty = match vo.and_then(|m| m.get("$ref")).filter(|r| js::truthy(Some(r))) {
          Some(r) => ref_type(r, &v_loc, None)?,
          None => self.schema(v, &refs::create_ref(&[path, k]), &v_loc)?,
        };
        let mut m = with_comment(Member::prop(ast::prop_name(k), optional, ty), v);
        if read_only {
          set_readonly(&mut m);
        }
        members.push(m);
      }
    }
    if let Some(Value::Object(defs)) = obj.get("$defs") {
      if !defs.is_empty() {
        let mut def_members = Vec::with_capacity(defs.len());
        let defs_loc = child(loc, "$defs");
        for (k, v) in js::entries(defs) {
          let ty = self.schema(v, &refs::create_ref(&[path, "$defs", k]), &child(&defs_loc, k))?;
          let mut m = with_comment(Member::prop(ast::prop_name(k), false, ty), v);
          if js::truthy(v.get("readOnly")) {
            set_readonly(&mut m);
          }
          def_members.push(m);
        }
        members.push(Member::prop(
          PropName::Bare("$defs".to_string()),
          false,
          Ty::Object(def_members),
        ));
      }
    }
    let ap = obj.get("additionalProperties");
    let mut index_types = Vec::new();
    match ap {
      Some(v @ Value::Object(m)) if !m.is_empty() => {
        index_types.push(self.schema(v, path, &child(loc, "additionalProperties"))?);
      }
      Some(Value::Object(_)) | Some(Value::Bool(true)) => index_types.push(ast::UNKNOWN),
      _ => {}
    }
    if let Some(Value::Object(pp)) = obj.get("patternProperties") {
      let pp_loc = child(loc, "patternProperties");
      for (k, v) in js::entries(pp) {
        index_types.push(self.schema(v, path, &child(&pp_loc, k))?);
      }
    }
    if index_types.is_empty() {
      return Ok(if members.is_empty() { None } else { Some(Ty::Object(members)) });
    }
    let index = Ty::Object(vec![Member {
      comment: None,
      kind: MemberKind::Index { param: "key", ty: ast::union(index_types) },
    }]);
    let mut parts = Vec::new();
    if !members.is_empty() {
      parts.push(Ty::Object(members));
    }
    parts.push(index);
    Ok(Some(ast::intersection(parts)))
  }

  fn array(&mut self, obj: &Map<String, Value>, path: &str, loc: &str) -> Result<Ty> {
    let mut item_type = ast::UNKNOWN;
    let items = obj.get("items");
    if js::truthy(obj.get("prefixItems")) || matches!(items, Some(Value::Array(_))) {
      let (key, src) = match obj.get("prefixItems").filter(|p| !p.is_null()) {
        Some(p) => ("prefixItems", p),
        None => ("items", items.unwrap_or(&Value::Null)),
      };
      let list = array_of(Some(src), loc, key)?;
      let mut elems = Vec::with_capacity(list.len());
      for (i, it) in list.iter().enumerate() {
        elems.push(self.schema(it, path, &child(&child(loc, key), &i.to_string()))?);
      }
      item_type = Ty::Tuple(elems);
    } else if let Some(items) = items.filter(|i| js::truthy(Some(i))) {
      let inner = self.schema(items, path, &child(loc, "items"))?;
      item_type = if items.get("type").and_then(Value::as_str) == Some("array") {
        Ty::Array(Box::new(inner))
      } else {
        inner
      };
    }
    Ok(match item_type {
      t @ (Ty::Tuple(_) | Ty::Array(_)) => t,
      t => Ty::Array(Box::new(t)),
    })
  }
}

fn set_readonly(m: &mut Member) {
  if let MemberKind::Prop { name, .. } = &mut m.kind {
    let text = match name {
      PropName::Bare(n) => n.clone(),
      PropName::Quoted(n) => js::ts_string_literal(n),
    };
    *name = PropName::Bare(format!("readonly {text}"));
  }
}

/// openapi-typescript's `createDiscriminatorProperty`.
fn discriminator_property(d: &Value, path: &str) -> Member {
  let mut value = refs::ref_pointer(path).pop().unwrap_or_default();
  if let Some(Value::Object(mapping)) = d.get("mapping") {
    let found = js::entries(mapping).into_iter().find(|(_, v)| {
      let v = v.as_str().unwrap_or("");
      (!v.starts_with('#') && v == value)
        || (v.starts_with('#') && refs::ref_pointer(v).pop().as_deref() == Some(&value))
    });
    if let Some((k, _)) = found {
      value = k.clone();
    }
  }
  let name = js::to_js_string(d.get("propertyName").unwrap_or(&Value::Null));
  Member::prop(ast::prop_name(&name), false, Ty::Raw(js::json_quote(&value)))
}
