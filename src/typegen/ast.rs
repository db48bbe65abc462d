//! A tiny TypeScript type AST and a printer that reproduces the TypeScript compiler's printer
//! output (4-space indent, multi-line type literals and tuples, parenthesization rules of
//! `parenthesizerRules`, synthetic JSDoc comments re-indented like `writeCommentRange`).

use super::js;

/// Keyword and keyword-like literal types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kw {
  /// `string`
  String,
  /// `number`
  Number,
  /// `boolean`
  Boolean,
  /// `unknown`
  Unknown,
  /// `never`
  Never,
  /// `null`
  Null,
  /// `true`
  True,
  /// `false`
  False,
}

impl Kw {
  fn text(self) -> &'static str {
    match self {
      Kw::String => "string",
      Kw::Number => "number",
      Kw::Boolean => "boolean",
      Kw::Unknown => "unknown",
      Kw::Never => "never",
      Kw::Null => "null",
      Kw::True => "true",
      Kw::False => "false",
    }
  }
}

/// A TypeScript type node.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
  /// A keyword type.
  Kw(Kw),
  /// Text printed verbatim (string literals built as identifiers, numeric literals).
  Raw(String),
  /// A type reference, with optional type arguments: `Record<string, never>`.
  Ref(String, Vec<Ty>),
  /// `T["segment"]`.
  Index(Box<Ty>, String),
  /// `T[]`.
  Array(Box<Ty>),
  /// `[A, B]` (printed multi-line, like the TS printer does for synthesized tuples).
  Tuple(Vec<Ty>),
  /// `A | B`.
  Union(Vec<Ty>),
  /// `A & B`.
  Intersection(Vec<Ty>),
  /// `{ ... }` type literal.
  Object(Vec<Member>),
}

/// Name of a property signature.
#[derive(Debug, Clone, PartialEq)]
pub enum PropName {
  /// Printed as-is (identifier or numeric literal text).
  Bare(String),
  /// Printed as a double-quoted string literal.
  Quoted(String),
}

/// A member of a type literal or interface.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
  /// Text of a leading `/*...*/` comment (without the delimiters).
  pub comment: Option<String>,
  /// The member itself.
  pub kind: MemberKind,
}

/// Property signature or index signature.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberKind {
  /// `name?: T;`
  Prop {
    /// Property name.
    name: PropName,
    /// Printed with `?`.
    optional: bool,
    /// Property type.
    ty: Ty,
  },
  /// `[param: string]: T;`
  Index {
    /// Name of the index parameter (`key`, `name`).
    param: &'static str,
    /// Value type.
    ty: Ty,
  },
}

impl Member {
  /// A property signature without a comment.
  pub fn prop(name: PropName, optional: bool, ty: Ty) -> Self {
    Member { comment: None, kind: MemberKind::Prop { name, optional, ty } }
  }

  /// Whether this is an optional property signature.
  pub fn is_optional(&self) -> bool {
    matches!(self.kind, MemberKind::Prop { optional: true, .. })
  }
}

/// `string`
pub const STRING: Ty = Ty::Kw(Kw::String);
/// `number`
pub const NUMBER: Ty = Ty::Kw(Kw::Number);
/// `boolean`
pub const BOOLEAN: Ty = Ty::Kw(Kw::Boolean);
/// `unknown`
pub const UNKNOWN: Ty = Ty::Kw(Kw::Unknown);
/// `never`
pub const NEVER: Ty = Ty::Kw(Kw::Never);
/// `null`
pub const NULL: Ty = Ty::Kw(Kw::Null);

/// `Record<K, V>`
pub fn record(k: Ty, v: Ty) -> Ty {
  Ty::Ref("Record".to_string(), vec![k, v])
}

/// openapi-typescript's `tsIsPrimitive`.
pub fn is_primitive(t: &Ty) -> bool {
  matches!(t, Ty::Kw(Kw::Boolean | Kw::Never | Kw::Null | Kw::Number | Kw::String))
}

/// openapi-typescript's `tsDedupe`: drops repeated primitive keywords only.
fn dedupe(types: Vec<Ty>) -> Vec<Ty> {
  let mut seen: Vec<Kw> = Vec::new();
  let mut out = Vec::with_capacity(types.len());
  for t in types {
    if let Ty::Kw(k) = t {
      if seen.contains(&k) {
        continue;
      }
      if is_primitive(&t) {
        seen.push(k);
      }
    }
    out.push(t);
  }
  out
}

/// openapi-typescript's `tsUnion`.
pub fn union(mut types: Vec<Ty>) -> Ty {
  match types.len() {
    0 => NEVER,
    1 => types.remove(0),
    _ => Ty::Union(dedupe(types)),
  }
}

/// openapi-typescript's `tsIntersection`.
pub fn intersection(mut types: Vec<Ty>) -> Ty {
  match types.len() {
    0 => NEVER,
    1 => types.remove(0),
    _ => Ty::Intersection(dedupe(types)),
  }
}

/// Property name as openapi-typescript's `tsPropertyIndex` builds it.
pub fn prop_name(key: &str) -> PropName {
  let f = js::string_to_number(key);
  if !key.starts_with('-') && js::number_to_string(f) == key {
    return PropName::Bare(key.to_string());
  }
  if js::is_identifier(key) {
    PropName::Bare(key.to_string())
  } else {
    PropName::Quoted(key.to_string())
  }
}

/// Output buffer with the TS printer's indentation model.
pub struct Printer {
  out: String,
  indent: usize,
}

impl Printer {
  /// An empty printer.
  pub fn new() -> Self {
    Printer { out: String::new(), indent: 0 }
  }

  /// The printed text.
  pub fn finish(self) -> String {
    self.out
  }

  /// Append raw text.
  pub fn write(&mut self, s: &str) {
    self.out.push_str(s);
  }

  fn newline(&mut self) {
    self.out.push('\n');
  }

  fn write_indent(&mut self) {
    for _ in 0..self.indent {
      self.out.push_str("    ");
    }
  }

  /// `export interface name { members }` followed by a newline.
  pub fn interface(&mut self, name: &str, members: &[Member]) {
    self.write("export interface ");
    self.write(name);
    self.write(" ");
    self.members_block(members);
    self.newline();
  }

  /// `export type name = ty;` followed by a newline.
  pub fn type_alias(&mut self, name: &str, ty: &Ty, export: bool) {
    if export {
      self.write("export ");
    }
    self.write("type ");
    self.write(name);
    self.write(" = ");
    self.ty(ty);
    self.write(";");
    self.newline();
  }

  fn members_block(&mut self, members: &[Member]) {
    if members.is_empty() {
      self.write("{}");
      return;
    }
    self.write("{");
    self.indent += 1;
    for m in members {
      self.newline();
      self.write_indent();
      if let Some(c) = &m.comment {
        self.comment(c);
        self.newline();
        self.write_indent();
      }
      match &m.kind {
        MemberKind::Prop { name, optional, ty } => {
          match name {
            PropName::Bare(n) => self.write(n),
            PropName::Quoted(n) => self.write(&js::ts_string_literal(n)),
          }
          if *optional {
            self.write("?");
          }
          self.write(": ");
          self.ty(ty);
        }
        MemberKind::Index { param, ty } => {
          self.write("[");
          self.write(param);
          self.write(": string]: ");
          self.ty(ty);
        }
      }
      self.write(";");
    }
    self.indent -= 1;
    self.newline();
    self.write_indent();
    self.write("}");
  }

  /// Emit `/*text*/` like the TS printer's `writeCommentRange` for a synthesized comment: the
  /// first line as-is, later lines trimmed and re-indented to the current indent plus their
  /// own leading whitespace width.
  fn comment(&mut self, text: &str) {
    let full = format!("/*{text}*/");
    let lines = split_ts_lines(&full);
    let last = lines.len().saturating_sub(1);
    for (i, line) in lines.iter().enumerate() {
      if i > 0 {
        let spaces = self.indent * 4 + calculate_indent(line);
        let mut s = String::with_capacity(spaces);
        for _ in 0..spaces {
          s.push(' ');
        }
        self.write(&s);
      }
      let trimmed = js::trim(line);
      if trimmed.is_empty() {
        self.newline();
      } else {
        self.write(trimmed);
        if i != last {
          self.newline();
        }
      }
    }
  }

  /// Print a type at the current indentation.
  pub fn ty(&mut self, t: &Ty) {
    match t {
      Ty::Kw(k) => self.write(k.text()),
      Ty::Raw(s) => self.write(s),
      Ty::Ref(name, args) => {
        self.write(name);
        if !args.is_empty() {
          self.write("<");
          for (i, a) in args.iter().enumerate() {
            if i > 0 {
              self.write(", ");
            }
            self.ty(a);
          }
          self.write(">");
        }
      }
      Ty::Index(obj, seg) => {
        self.postfix_operand(obj);
        self.write("[");
        self.write(&js::ts_string_literal(seg));
        self.write("]");
      }
      Ty::Array(el) => {
        self.postfix_operand(el);
        self.write("[]");
      }
      Ty::Tuple(items) => {
        if items.is_empty() {
          self.write("[]");
          return;
        }
        self.write("[");
        self.indent += 1;
        for (i, item) in items.iter().enumerate() {
          if i > 0 {
            self.write(",");
          }
          self.newline();
          self.write_indent();
          self.ty(item);
        }
        self.indent -= 1;
        self.newline();
        self.write_indent();
        self.write("]");
      }
      Ty::Union(items) => self.joined(items, " | "),
      Ty::Intersection(items) => self.joined(items, " & "),
      Ty::Object(members) => self.members_block(members),
    }
  }

  fn joined(&mut self, items: &[Ty], sep: &str) {
    for (i, item) in items.iter().enumerate() {
      if i > 0 {
        self.write(sep);
      }
      self.parenthesized_if_composite(item);
    }
  }

  fn parenthesized_if_composite(&mut self, t: &Ty) {
    if matches!(t, Ty::Union(_) | Ty::Intersection(_)) {
      self.write("(");
      self.ty(t);
      self.write(")");
    } else {
      self.ty(t);
    }
  }

  fn postfix_operand(&mut self, t: &Ty) {
    self.parenthesized_if_composite(t);
  }
}

impl Default for Printer {
  fn default() -> Self {
    Self::new()
  }
}

/// Split like TypeScript's `computeLineStarts` (CRLF, CR, LF, LS, PS), dropping terminators.
fn split_ts_lines(s: &str) -> Vec<&str> {
  let mut lines = Vec::new();
  let bytes = s.as_bytes();
  let mut start = 0;
  let mut i = 0;
  while i < s.len() {
    let c = match s[i..].chars().next() {
      Some(c) => c,
      None => break,
    };
    let len = c.len_utf8();
    match c {
      '\r' => {
        lines.push(&s[start..i]);
        i += if bytes.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
        start = i;
        continue;
      }
      '\n' | '\u{2028}' | '\u{2029}' => {
        lines.push(&s[start..i]);
        i += len;
        start = i;
        continue;
      }
      _ => {}
    }
    i += len;
  }
  lines.push(&s[start..]);
  lines
}

/// TypeScript's `calculateIndent` with an indent size of 4.
fn calculate_indent(line: &str) -> usize {
  let mut n = 0;
  for c in line.chars() {
    match c {
      '\t' => n += 4 - (n % 4),
      ' '
      | '\u{0B}'
      | '\u{0C}'
      | '\u{A0}'
      | '\u{85}'
      | '\u{1680}'
      | '\u{2000}'..='\u{200B}'
      | '\u{202F}'
      | '\u{205F}'
      | '\u{3000}'
      | '\u{FEFF}' => n += 1,
      _ => break,
    }
  }
  n
}
