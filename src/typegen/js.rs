//! JavaScript-compatible helpers: the reference generator (openapi-typescript) runs on Node, so
//! matching its bytes means matching JS semantics for number formatting, `JSON.stringify`,
//! object key order, truthiness, `String.prototype.trim` and the TypeScript printer's string
//! escaping.

use serde_json::{Map, Value};

/// `Number.prototype.toString()` for an `f64` (ECMA-262 Number::toString, radix 10).
pub fn number_to_string(n: f64) -> String {
  if n.is_nan() {
    return "NaN".to_string();
  }
  if n == 0.0 {
    return "0".to_string();
  }
  if n.is_infinite() {
    return if n > 0.0 { "Infinity".to_string() } else { "-Infinity".to_string() };
  }
  if n < 0.0 {
    return format!("-{}", number_to_string(-n));
  }
  // Rust's `{:e}` prints the shortest round-tripping digits, e.g. `1.2345e-7`.
  let sci = format!("{n:e}");
  let (mantissa, exp) = match sci.split_once('e') {
    Some(parts) => parts,
    None => return sci,
  };
  let mut digits: String = mantissa.chars().filter(|c| *c != '.').collect();
  let exp: i64 = exp.parse().unwrap_or(0);
  if let Some(even) = tie_to_even(n, &digits, exp) {
    digits = even;
  }
  let k = digits.len() as i64;
  let n_pos = exp + 1;
  if k <= n_pos && n_pos <= 21 {
    let mut s = digits;
    s.extend(std::iter::repeat_n('0', (n_pos - k) as usize));
    s
  } else if 0 < n_pos && n_pos <= 21 {
    format!("{}.{}", &digits[..n_pos as usize], &digits[n_pos as usize..])
  } else if -6 < n_pos && n_pos <= 0 {
    format!("0.{}{}", "0".repeat((-n_pos) as usize), digits)
  } else {
    let e = n_pos - 1;
    let sign = if e < 0 { '-' } else { '+' };
    if k == 1 {
      format!("{digits}e{sign}{}", e.abs())
    } else {
      format!("{}.{}e{sign}{}", &digits[..1], &digits[1..], e.abs())
    }
  }
}

/// ECMA-262 picks, among equally short digit strings equally close to `n`, the one whose last
/// digit is even; Rust's shortest formatting can pick the other one of such a tie (e.g.
/// 694909252705839.25 → JS `…839.2`, Rust `…839.3`). Returns the even candidate when `n` sits
/// exactly halfway between two `k`-digit decimals that both round-trip.
fn tie_to_even(n: f64, digits: &str, exp: i64) -> Option<String> {
  let k = digits.len();
  if k > 17 {
    return None;
  }
  // The exact decimal expansion of a double has at most 767 significant digits.
  let exact = format!("{n:.800e}");
  let (mant, exact_exp) = exact.split_once('e')?;
  if exact_exp.parse::<i64>().ok()? != exp {
    return None;
  }
  let exact_digits: String = mant.chars().filter(|c| *c != '.').collect();
  let exact_digits = exact_digits.trim_end_matches('0');
  if exact_digits.len() != k + 1 || !exact_digits.ends_with('5') {
    return None;
  }
  let low: u64 = exact_digits[..k].parse().ok()?;
  let even = if low.is_multiple_of(2) { low } else { low + 1 };
  let candidate = even.to_string();
  if candidate.len() != k || candidate == digits {
    return None;
  }
  let text = format!("{}.{}e{}", &candidate[..1], &candidate[1..], exp);
  (text.parse::<f64>().ok()? == n).then_some(candidate)
}

/// The JS number a JSON number becomes after `JSON.parse`.
pub fn json_number(n: &serde_json::Number) -> f64 {
  n.as_f64().unwrap_or(f64::NAN)
}

/// Whether `key` is an array index in the sense of ECMA-262 (canonical uint32 < 2^32 - 1); such
/// keys are enumerated first, in ascending numeric order, by `Object.keys`/`Object.entries`.
fn array_index(key: &str) -> Option<u32> {
  if key.is_empty() || key.len() > 10 || (key.len() > 1 && key.starts_with('0')) {
    return None;
  }
  if !key.bytes().all(|b| b.is_ascii_digit()) {
    return None;
  }
  let v: u64 = key.parse().ok()?;
  if v < u64::from(u32::MAX) {
    Some(v as u32)
  } else {
    None
  }
}

/// `Object.entries(obj)` order: integer-like keys ascending, then the rest in insertion order.
pub fn entries(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
  let mut ints: Vec<(u32, (&String, &Value))> = Vec::new();
  let mut rest = Vec::with_capacity(map.len());
  for (k, v) in map {
    match array_index(k) {
      Some(i) => ints.push((i, (k, v))),
      None => rest.push((k, v)),
    }
  }
  if ints.is_empty() {
    return rest;
  }
  ints.sort_by_key(|(i, _)| *i);
  let mut out: Vec<(&String, &Value)> = ints.into_iter().map(|(_, e)| e).collect();
  out.extend(rest);
  out
}

/// JS truthiness of a JSON value (`undefined` is represented by `None`).
pub fn truthy(v: Option<&Value>) -> bool {
  match v {
    None | Some(Value::Null) => false,
    Some(Value::Bool(b)) => *b,
    Some(Value::Number(n)) => {
      let f = json_number(n);
      f != 0.0 && !f.is_nan()
    }
    Some(Value::String(s)) => !s.is_empty(),
    Some(Value::Array(_)) | Some(Value::Object(_)) => true,
  }
}

/// `String(value)` for a non-object JSON value (objects and arrays go through `json_stringify`).
pub fn to_js_string(v: &Value) -> String {
  match v {
    Value::Null => "null".to_string(),
    Value::Bool(b) => b.to_string(),
    Value::Number(n) => number_to_string(json_number(n)),
    Value::String(s) => s.clone(),
    Value::Array(items) => items
      .iter()
      .map(|i| match i {
        Value::Null => String::new(),
        Value::Object(_) => "[object Object]".to_string(),
        other => to_js_string(other),
      })
      .collect::<Vec<_>>()
      .join(","),
    Value::Object(_) => "[object Object]".to_string(),
  }
}

/// `JSON.stringify(s)` for a string: identical escaping to serde_json's.
pub fn json_quote(s: &str) -> String {
  serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// `JSON.stringify(value, null, 2)`.
pub fn json_stringify_pretty(v: &Value) -> String {
  let mut out = String::new();
  stringify_into(v, 0, &mut out);
  out
}

fn stringify_into(v: &Value, depth: usize, out: &mut String) {
  match v {
    Value::Null => out.push_str("null"),
    Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
    Value::Number(n) => {
      let f = json_number(n);
      if f.is_finite() {
        out.push_str(&number_to_string(f));
      } else {
        out.push_str("null");
      }
    }
    Value::String(s) => out.push_str(&json_quote(s)),
    Value::Array(items) => {
      if items.is_empty() {
        out.push_str("[]");
        return;
      }
      out.push_str("[\n");
      for (i, item) in items.iter().enumerate() {
        if i > 0 {
          out.push_str(",\n");
        }
        push_indent(out, depth + 1);
        stringify_into(item, depth + 1, out);
      }
      out.push('\n');
      push_indent(out, depth);
      out.push(']');
    }
    Value::Object(map) => {
      if map.is_empty() {
        out.push_str("{}");
        return;
      }
      out.push_str("{\n");
      for (i, (k, item)) in entries(map).into_iter().enumerate() {
        if i > 0 {
          out.push_str(",\n");
        }
        push_indent(out, depth + 1);
        out.push_str(&json_quote(k));
        out.push_str(": ");
        stringify_into(item, depth + 1, out);
      }
      out.push('\n');
      push_indent(out, depth);
      out.push('}');
    }
  }
}

fn push_indent(out: &mut String, depth: usize) {
  for _ in 0..depth {
    out.push_str("  ");
  }
}

/// Characters removed by `String.prototype.trim` (WhiteSpace and LineTerminator).
pub fn is_js_trim_char(c: char) -> bool {
  matches!(
    c,
    '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
      ..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}' | '\u{FEFF}'
  )
}

/// `String.prototype.trim`.
pub fn trim(s: &str) -> &str {
  s.trim_matches(is_js_trim_char)
}

/// A JS identifier usable as a property name without quotes (`/^[A-Za-z_$][A-Za-z_$0-9]*$/`).
pub fn is_identifier(s: &str) -> bool {
  let mut chars = s.chars();
  match chars.next() {
    Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$' => {}
    _ => return false,
  }
  chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// `Number(s)` for a string (StringToNumber): whitespace-trimmed decimal, hex/octal/binary,
/// `Infinity`; anything else is NaN. Empty string is 0.
pub fn string_to_number(s: &str) -> f64 {
  let t = trim(s);
  if t.is_empty() {
    return 0.0;
  }
  let radix = |p: &str, r: u32| -> f64 {
    if p.is_empty() || !p.chars().all(|c| c.is_digit(r)) {
      return f64::NAN;
    }
    p.chars().fold(0.0, |acc, c| acc * f64::from(r) + f64::from(c.to_digit(r).unwrap_or(0)))
  };
  let lower = t.get(..2).map(|p| p.to_ascii_lowercase());
  match lower.as_deref() {
    Some("0x") => return radix(&t[2..], 16),
    Some("0o") => return radix(&t[2..], 8),
    Some("0b") => return radix(&t[2..], 2),
    _ => {}
  }
  let (sign, body) = match t.as_bytes()[0] {
    b'+' => (1.0, &t[1..]),
    b'-' => (-1.0, &t[1..]),
    _ => (1.0, t),
  };
  if body == "Infinity" {
    return sign * f64::INFINITY;
  }
  // StrDecimalLiteral: digits [. digits] [e[+-]digits] | . digits [exponent]
  let b = body.as_bytes();
  let mut i = 0;
  let int_start = i;
  while i < b.len() && b[i].is_ascii_digit() {
    i += 1;
  }
  let int_digits = i - int_start;
  let mut frac_digits = 0;
  if i < b.len() && b[i] == b'.' {
    i += 1;
    let fs = i;
    while i < b.len() && b[i].is_ascii_digit() {
      i += 1;
    }
    frac_digits = i - fs;
  }
  if int_digits == 0 && frac_digits == 0 {
    return f64::NAN;
  }
  if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
    i += 1;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
      i += 1;
    }
    let es = i;
    while i < b.len() && b[i].is_ascii_digit() {
      i += 1;
    }
    if i == es {
      return f64::NAN;
    }
  }
  if i != b.len() {
    return f64::NAN;
  }
  body.parse::<f64>().map(|v| sign * v).unwrap_or(f64::NAN)
}

/// TypeScript printer escaping of a synthesized double-quoted string literal
/// (`escapeNonAsciiString`): `\\`, `"`, control characters, U+2028/2029/0085, and every
/// non-ASCII UTF-16 code unit as `\uXXXX`.
pub fn ts_string_literal(s: &str) -> String {
  let mut out = String::with_capacity(s.len() + 2);
  out.push('"');
  let chars: Vec<char> = s.chars().collect();
  for (i, &c) in chars.iter().enumerate() {
    match c {
      '\t' => out.push_str("\\t"),
      '\u{0B}' => out.push_str("\\v"),
      '\u{0C}' => out.push_str("\\f"),
      '\u{08}' => out.push_str("\\b"),
      '\r' => out.push_str("\\r"),
      '\n' => out.push_str("\\n"),
      '\\' => out.push_str("\\\\"),
      '"' => out.push_str("\\\""),
      '\0' => {
        let next_digit = chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
        out.push_str(if next_digit { "\\x00" } else { "\\0" });
      }
      c if (c as u32) < 0x20 || (c as u32) > 0x7f => {
        let mut buf = [0u16; 2];
        for unit in c.encode_utf16(&mut buf) {
          out.push_str(&format!("\\u{:04X}", unit));
        }
      }
      c => out.push(c),
    }
  }
  out.push('"');
  out
}
