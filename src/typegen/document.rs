//! Document-level transforms: paths, path items, operations, parameters, request bodies,
//! responses, headers, components and the root declarations (ports of openapi-typescript's
//! `transform/*-object.ts`).

use serde_json::Value;

use super::ast::{self, Member, MemberKind, Printer, PropName, Ty};
use super::discriminators::Discriminators;
use super::js;
use super::jsdoc;
use super::refs;
use super::schema::{invalid, ref_type, Ctx, Footer};
use super::validate::{child, type_name};
use super::TypegenError;

type Result<T> = std::result::Result<T, TypegenError>;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const COMPONENT_KEYS: [&str; 6] =
  ["schemas", "responses", "parameters", "requestBodies", "headers", "pathItems"];

fn commented(mut m: Member, source: &Value) -> Member {
  m.comment = jsdoc::comment(source);
  m
}

fn object_of<'v>(
  v: Option<&'v Value>,
  loc: &str,
  key: &str,
) -> Result<Option<&'v serde_json::Map<String, Value>>> {
  match v {
    None | Some(Value::Null) => Ok(None),
    Some(Value::Object(m)) => Ok(Some(m)),
    Some(other) => Err(invalid(
      &child(loc, key),
      format!("`{key}` must be an object, found {}", type_name(other)),
    )),
  }
}

fn never_prop(name: &str) -> Member {
  Member::prop(ast::prop_name(name), true, ast::NEVER)
}

/// Transform the whole (validated, discriminator-patched) document into TypeScript source.
pub fn transform(doc: &Value, disc: Discriminators) -> Result<String> {
  let mut ctx = Ctx {
    doc,
    disc,
    footer: Vec::new(),
    operations: Vec::new(),
    operation_ids: std::collections::HashMap::new(),
  };
  let empty = ast::record(ast::STRING, ast::NEVER);
  let mut p = Printer::new();
  for root in ["paths", "webhooks", "components", "$defs"] {
    let node = doc.get(root).filter(|v| v.is_object() || v.is_array());
    let Some(node) = node else {
      p.type_alias(root, &empty, true);
      continue;
    };
    let loc = child("", root);
    let ty = match root {
      "paths" => ctx.paths(node, &loc)?,
      "webhooks" => ctx.webhooks(node, &loc)?,
      "components" => ctx.components(node, &loc)?,
      _ => ctx.schema(node, "#/$defs", &loc)?,
    };
    match ty {
      Ty::Object(members) if !members.is_empty() => p.interface(root, &members),
      _ => p.type_alias(root, &empty, true),
    }
  }
  for f in ctx.footer.clone() {
    match f {
      Footer::Operations => p.interface("operations", &ctx.operations),
      Footer::WithRequired => {
        p.write("type WithRequired<T, K extends keyof T> = T & {\n    [P in K]-?: T[P];\n};\n")
      }
    }
  }
  if !ctx.footer.contains(&Footer::Operations) {
    p.type_alias("operations", &empty, true);
  }
  Ok(p.finish())
}

impl<'a> Ctx<'a> {
  fn resolve_obj(&self, v: &'a Value) -> Option<&'a Value> {
    match v.get("$ref") {
      Some(r) => refs::resolve(self.doc, &js::to_js_string(r)).map(|(_, n)| n),
      None => Some(v),
    }
  }

  fn paths(&mut self, paths: &Value, loc: &str) -> Result<Ty> {
    let mut members = Vec::new();
    let Some(map) = paths.as_object() else { return Ok(Ty::Object(members)) };
    for (url, item) in js::entries(map) {
      if !item.is_object() {
        continue;
      }
      let item_loc = child(loc, url);
      if let Some(r) = item.get("$ref") {
        members.push(commented(
          Member::prop(ast::prop_name(url), false, ref_type(r, &item_loc, None)?),
          item,
        ));
        continue;
      }
      let ty = self.path_item(item, &refs::create_ref(&["paths", url]), &item_loc)?;
      members.push(Member::prop(ast::prop_name(url), false, ty));
    }
    Ok(Ty::Object(members))
  }

  fn webhooks(&mut self, hooks: &Value, loc: &str) -> Result<Ty> {
    let mut members = Vec::new();
    let Some(map) = hooks.as_object() else { return Ok(Ty::Object(members)) };
    for (name, item) in js::entries(map) {
      let ty = self.path_item(item, &refs::create_ref(&["webhooks", name]), &child(loc, name))?;
      members.push(Member::prop(ast::prop_name(name), false, ty));
    }
    Ok(Ty::Object(members))
  }

  fn path_item(&mut self, item: &Value, path: &str, loc: &str) -> Result<Ty> {
    let Some(obj) = item.as_object() else {
      return Err(invalid(loc, format!("expected a Path Item Object, found {}", type_name(item))));
    };
    let shared: &[Value] = match obj.get("parameters") {
      None | Some(Value::Null) => &[],
      Some(Value::Array(a)) => a,
      Some(other) => {
        return Err(invalid(
          &child(loc, "parameters"),
          format!("expected an array, found {}", type_name(other)),
        ))
      }
    };
    let mut members = vec![self.parameters(
      shared.iter().collect(),
      &refs::create_ref(&[path, "parameters"]),
      &child(loc, "parameters"),
    )?];
    for method in METHODS {
      let op = match obj.get(method) {
        Some(op) if js::truthy(Some(op)) => op,
        _ => {
          members.push(never_prop(method));
          continue;
        }
      };
      let op_loc = child(loc, method);
      let op_path = refs::create_ref(&[path, method]);
      let Some(op_obj) = op.as_object() else {
        return Err(invalid(
          &op_loc,
          format!("expected an Operation Object, found {}", type_name(op)),
        ));
      };
      let ty = if let Some(r) = op_obj.get("$ref") {
        ref_type(r, &op_loc, None)?
      } else {
        // Path-level parameters first, overridden (in place) by operation-level ones.
        let own: &[Value] = match op_obj.get("parameters") {
          None | Some(Value::Null) => &[],
          Some(Value::Array(a)) => a,
          Some(other) => {
            return Err(invalid(
              &child(&op_loc, "parameters"),
              format!("expected an array, found {}", type_name(other)),
            ))
          }
        };
        let mut keyed: Vec<(String, &Value)> = Vec::new();
        for param in shared.iter().chain(own.iter()) {
          let resolved = self.resolve_obj(param);
          let part = |k: &str| {
            resolved.and_then(|r| r.get(k)).map(js::to_js_string).unwrap_or("undefined".into())
          };
          let key = format!("{}-{}", part("in"), part("name"));
          match keyed.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = param,
            None => keyed.push((key, param)),
          }
        }
        let params: Vec<&Value> = keyed.into_iter().map(|(_, v)| v).collect();
        match op_obj.get("operationId").filter(|v| js::truthy(Some(v))) {
          Some(id) => {
            let id = js::to_js_string(id).replace('#', "/");
            if let Some(first) = self.operation_ids.get(&id) {
              return Err(TypegenError::DuplicateOperationId {
                operation_id: id,
                pointer: child(&op_loc, "operationId"),
                first: first.clone(),
              });
            }
            self.operation_ids.insert(id.clone(), child(&op_loc, "operationId"));
            // The `operations` interface takes its footer slot before the operation is transformed
            // (a `WithRequired` helper first needed inside it comes after), as in openapi-typescript.
            if !self.footer.contains(&Footer::Operations) {
              self.footer.push(Footer::Operations);
            }
            let members = self.operation(op_obj, params, &op_path, &op_loc)?;
            self.operations.push(Member::prop(ast::prop_name(&id), false, Ty::Object(members)));
            let r = refs::create_ref(&["operations", &id]);
            refs::oapi_ref(&r, None)
              .ok_or_else(|| invalid(&op_loc, "empty operationId".to_string()))?
          }
          None => Ty::Object(self.operation(op_obj, params, &op_path, &op_loc)?),
        }
      };
      members.push(commented(Member::prop(ast::prop_name(method), false, ty), op));
    }
    Ok(Ty::Object(members))
  }

  fn operation(
    &mut self,
    op: &serde_json::Map<String, Value>,
    params: Vec<&Value>,
    path: &str,
    loc: &str,
  ) -> Result<Vec<Member>> {
    let mut members = vec![self.parameters(params, path, &child(loc, "parameters"))?];
    match op.get("requestBody").filter(|b| js::truthy(Some(b))) {
      Some(body) => {
        let body_loc = child(loc, "requestBody");
        let ty = match body.get("$ref") {
          Some(r) => ref_type(r, &body_loc, None)?,
          None => self.request_body(body, &refs::create_ref(&[path, "requestBody"]), &body_loc)?,
        };
        let required = self.resolve_obj(body).is_some_and(|b| js::truthy(b.get("required")));
        members.push(commented(Member::prop(ast::prop_name("requestBody"), !required, ty), body));
      }
      None => members.push(never_prop("requestBody")),
    }
    let responses = self.responses(op.get("responses"), path, &child(loc, "responses"))?;
    members.push(Member::prop(ast::prop_name("responses"), false, responses));
    Ok(members)
  }

  fn parameters(&mut self, params: Vec<&Value>, path: &str, loc: &str) -> Result<Member> {
    let mut groups = Vec::with_capacity(4);
    for param_in in ["query", "header", "path", "cookie"] {
      let mut members = Vec::new();
      for (i, original) in params.iter().enumerate() {
        let Some(resolved) = self.resolve_obj(original) else { continue };
        if resolved.get("in").and_then(Value::as_str) != Some(param_in) {
          continue;
        }
        let p_loc = child(loc, &i.to_string());
        let name = js::to_js_string(resolved.get("name").unwrap_or(&Value::Null));
        let optional = param_in != "path" && !js::truthy(resolved.get("required"));
        let ty = match original.get("$ref") {
          Some(r) => ref_type(r, &p_loc, Some((param_in, &name)))?,
          None => match resolved.get("schema").filter(|s| js::truthy(Some(s))) {
            Some(schema) => self.schema(
              schema,
              &refs::create_ref(&[path, "parameters", param_in, &name]),
              &child(&p_loc, "schema"),
            )?,
            None => ast::STRING,
          },
        };
        members.push(commented(Member::prop(ast::prop_name(&name), optional, ty), resolved));
      }
      let all_optional = members.iter().all(Member::is_optional);
      let ty = if members.is_empty() { ast::NEVER } else { Ty::Object(members) };
      groups.push(Member::prop(ast::prop_name(param_in), all_optional, ty));
    }
    Ok(Member::prop(ast::prop_name("parameters"), false, Ty::Object(groups)))
  }

  fn media_type(&mut self, mt: &Value, path: &str, loc: &str) -> Result<Ty> {
    match mt.get("schema").filter(|s| js::truthy(Some(s))) {
      Some(schema) => self.schema(schema, path, &child(loc, "schema")),
      None => Ok(ast::UNKNOWN),
    }
  }

  fn request_body(&mut self, body: &Value, path: &str, loc: &str) -> Result<Ty> {
    let mut members = Vec::new();
    if let Some(content) = object_of(body.get("content"), loc, "content")? {
      let content_loc = child(loc, "content");
      for (ct, mt) in js::entries(content) {
        let next = refs::create_ref(&[path, "content", ct]);
        let mt_loc = child(&content_loc, ct);
        let ty = if mt.get("$ref").is_some() {
          self.schema(mt, &next, &mt_loc)?
        } else {
          self.media_type(mt, &next, &mt_loc)?
        };
        members.push(commented(Member::prop(ast::prop_name(ct), false, ty), mt));
      }
    }
    if members.is_empty() {
      members.push(Member::prop(ast::prop_name("*/*"), true, ast::NEVER));
    }
    Ok(Ty::Object(vec![Member::prop(ast::prop_name("content"), false, Ty::Object(members))]))
  }

  fn responses(&mut self, responses: Option<&Value>, path: &str, loc: &str) -> Result<Ty> {
    let mut members = Vec::new();
    let map = match responses {
      None | Some(Value::Null) => None,
      Some(Value::Object(m)) => Some(m),
      Some(other) => {
        return Err(invalid(
          loc,
          format!("`responses` must be an object, found {}", type_name(other)),
        ))
      }
    };
    for (code, resp) in map.into_iter().flat_map(js::entries) {
      let r_loc = child(loc, code);
      if !resp.is_object() {
        return Err(invalid(
          &r_loc,
          format!("expected a Response Object, found {}", type_name(resp)),
        ));
      }
      let ty = match resp.get("$ref") {
        Some(r) => ref_type(r, &r_loc, None)?,
        None => self.response(resp, &refs::create_ref(&[path, "responses", code]), &r_loc)?,
      };
      members.push(commented(Member::prop(ast::prop_name(code), false, ty), resp));
    }
    Ok(if members.is_empty() { ast::NEVER } else { Ty::Object(members) })
  }

  fn response(&mut self, resp: &Value, path: &str, loc: &str) -> Result<Ty> {
    let mut headers = Vec::new();
    if let Some(hs) = object_of(resp.get("headers"), loc, "headers")? {
      let hs_loc = child(loc, "headers");
      for (name, h) in js::entries(hs) {
        let h_loc = child(&hs_loc, name);
        let (optional, ty) = match h.get("$ref") {
          Some(r) => (false, ref_type(r, &h_loc, None)?),
          None => (
            !js::truthy(h.get("required")),
            self.header(h, &refs::create_ref(&[path, "headers", name]), &h_loc)?,
          ),
        };
        headers.push(commented(Member::prop(ast::prop_name(name), optional, ty), h));
      }
    }
    headers
      .push(Member { comment: None, kind: MemberKind::Index { param: "name", ty: ast::UNKNOWN } });
    let mut members =
      vec![Member::prop(PropName::Bare("headers".into()), false, Ty::Object(headers))];
    let mut content = Vec::new();
    if let Some(c) = object_of(resp.get("content"), loc, "content")? {
      let c_loc = child(loc, "content");
      for (ct, mt) in js::entries(c) {
        let ty =
          self.media_type(mt, &refs::create_ref(&[path, "content", ct]), &child(&c_loc, ct))?;
        content.push(commented(Member::prop(ast::prop_name(ct), false, ty), mt));
      }
    }
    if content.is_empty() {
      members.push(never_prop("content"));
    } else {
      members.push(Member::prop(PropName::Bare("content".into()), false, Ty::Object(content)));
    }
    Ok(Ty::Object(members))
  }

  fn header(&mut self, h: &Value, path: &str, loc: &str) -> Result<Ty> {
    if let Some(schema) = h.get("schema").filter(|s| js::truthy(Some(s))) {
      return self.schema(schema, path, &child(loc, "schema"));
    }
    if let Some(content) = h.get("content").filter(|c| js::truthy(Some(c))) {
      let mut members = Vec::new();
      if let Some(map) = content.as_object() {
        for (ct, mt) in js::entries(map) {
          let next = format!("{path}/{}", refs::escape_segment(ct));
          let mt_loc = child(&child(loc, "content"), ct);
          let ty = if mt.get("$ref").is_some() {
            self.schema(mt, &next, &mt_loc)?
          } else {
            self.media_type(mt, &next, &mt_loc)?
          };
          members.push(commented(Member::prop(ast::prop_name(ct), false, ty), mt));
        }
      }
      return Ok(Ty::Object(members));
    }
    Ok(ast::UNKNOWN)
  }

  fn components(&mut self, components: &Value, loc: &str) -> Result<Ty> {
    let mut groups = Vec::with_capacity(COMPONENT_KEYS.len());
    for key in COMPONENT_KEYS {
      let mut items = Vec::new();
      let group = components.get(key).filter(|g| js::truthy(Some(g)));
      if let Some(group) = group {
        let Some(map) = group.as_object() else {
          return Err(invalid(
            &child(loc, key),
            format!("expected an object, found {}", type_name(group)),
          ));
        };
        let g_loc = child(loc, key);
        for (name, item) in js::entries(map) {
          let path = refs::create_ref(&["components", key, name]);
          let i_loc = child(&g_loc, name);
          let ty = match key {
            "schemas" => self.schema(item, &path, &i_loc)?,
            "responses" => self.response(item, &path, &i_loc)?,
            "parameters" => match item.get("schema").filter(|s| js::truthy(Some(s))) {
              Some(s) => self.schema(s, &path, &child(&i_loc, "schema"))?,
              None => ast::STRING,
            },
            "requestBodies" => self.request_body(item, &path, &i_loc)?,
            "headers" => self.header(item, &path, &i_loc)?,
            _ => self.path_item(item, &path, &i_loc)?,
          };
          items.push(commented(Member::prop(ast::prop_name(name), false, ty), item));
        }
      }
      let ty = if items.is_empty() { ast::NEVER } else { Ty::Object(items) };
      groups.push(Member::prop(PropName::Bare(key.to_string()), false, ty));
    }
    Ok(Ty::Object(groups))
  }
}
