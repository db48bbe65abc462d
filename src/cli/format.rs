//! JavaScript's formatting, to the byte: `Number.prototype.toString`, `toFixed`, `JSON.stringify(v,
//! null, 2)`, `padEnd`/`padStart` (UTF-16 lengths), and the CLI's `fmtMs`, `fmtBytes` and `table`
//! (`js/cli/util.mjs`). The native CLI prints with these, so its output is that of the Node CLI.

use serde::Serialize;
use std::io;

/// `String(x)` for a finite or non-finite number (ECMAScript Number::toString, radix 10).
pub fn js_number(x: f64) -> String {
  if x.is_nan() {
    return "NaN".into();
  }
  if x.is_infinite() {
    return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
  }
  if x == 0.0 {
    return "0".into();
  }
  if x < 0.0 {
    return format!("-{}", js_number(-x));
  }
  // Rust's `{:e}` gives the shortest digits that round-trip: `d.ddde<exp>`.
  let sci = format!("{x:e}");
  let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
  let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
  let k = digits.len() as i64;
  let n = exp.parse::<i64>().unwrap_or(0) + 1;
  if k <= n && n <= 21 {
    format!("{digits}{}", "0".repeat((n - k) as usize))
  } else if 0 < n && n <= 21 {
    format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
  } else if -6 < n && n <= 0 {
    format!("0.{}{digits}", "0".repeat((-n) as usize))
  } else {
    let e = n - 1;
    let sign = if e < 0 { '-' } else { '+' };
    let m = if k == 1 { digits.clone() } else { format!("{}.{}", &digits[..1], &digits[1..]) };
    format!("{m}e{sign}{}", e.abs())
  }
}

/// `x.toFixed(digits)`: the exact value rounded half up (JavaScript picks the larger of two
/// equally near results), unlike Rust's `{:.N}`, which rounds half to even.
pub fn to_fixed(x: f64, digits: usize) -> String {
  if !x.is_finite() || x.abs() >= 1e21 {
    return js_number(x);
  }
  if x < 0.0 {
    let s = to_fixed(-x, digits);
    return if s.chars().all(|c| c == '0' || c == '.') { s } else { format!("-{s}") };
  }
  // The exact decimal expansion of a double has at most 1074 fractional digits.
  let exact = format!("{x:.1100}");
  let (int, frac) = exact.split_once('.').unwrap_or((&exact, ""));
  let mut kept: Vec<u8> = int.bytes().chain(frac.bytes().take(digits)).collect();
  if frac.as_bytes().get(digits).is_some_and(|d| *d >= b'5') {
    let mut i = kept.len();
    loop {
      if i == 0 {
        kept.insert(0, b'1');
        break;
      }
      i -= 1;
      if kept[i] == b'9' {
        kept[i] = b'0';
      } else {
        kept[i] += 1;
        break;
      }
    }
  }
  let s = String::from_utf8(kept).unwrap_or_default();
  if digits == 0 {
    return s;
  }
  let cut = s.len() - digits;
  format!("{}.{}", &s[..cut], &s[cut..])
}

/// `Math.round(x)` for the non-negative numbers the CLI prints (ties toward +∞).
fn js_round(x: f64) -> f64 {
  let f = x.floor();
  if x - f >= 0.5 {
    f + 1.0
  } else {
    f
  }
}

/// `fmtMs` of `js/cli/util.mjs`: `1.23s` from a second up, else `12ms`.
pub fn fmt_ms(ms: f64) -> String {
  if ms >= 1000.0 {
    format!("{}s", to_fixed(ms / 1000.0, 2))
  } else {
    format!("{}ms", js_number(js_round(ms)))
  }
}

/// `fmtBytes` of `js/cli/util.mjs`: `1.50 GiB`, `12.3 MiB`, `4.0 KiB`, `12 B`.
pub fn fmt_bytes(n: f64) -> String {
  const GIB: f64 = (1u64 << 30) as f64;
  const MIB: f64 = (1u64 << 20) as f64;
  if n >= GIB {
    format!("{} GiB", to_fixed(n / GIB, 2))
  } else if n >= MIB {
    format!("{} MiB", to_fixed(n / MIB, 1))
  } else if n >= 1024.0 {
    format!("{} KiB", to_fixed(n / 1024.0, 1))
  } else {
    format!("{} B", js_number(n))
  }
}

/// `s.length` in JavaScript: UTF-16 code units.
pub fn js_len(s: &str) -> usize {
  s.encode_utf16().count()
}

/// `s.padEnd(width)`.
pub fn pad_end(s: &str, width: usize) -> String {
  format!("{s}{}", " ".repeat(width.saturating_sub(js_len(s))))
}

/// `s.padStart(width)`.
pub fn pad_start(s: &str, width: usize) -> String {
  format!("{}{s}", " ".repeat(width.saturating_sub(js_len(s))))
}

/// `s.slice(0, n)` (UTF-16 code units; a split surrogate pair is dropped whole).
pub fn js_slice(s: &str, n: usize) -> String {
  let mut units = 0;
  let mut out = String::new();
  for c in s.chars() {
    units += c.len_utf16();
    if units > n {
      break;
    }
    out.push(c);
  }
  out
}

/// `table(head, rows)` of `js/cli/util.mjs`: a header row, a rule, then the rows, columns padded
/// to fit, two spaces apart, trailing blanks trimmed. Appends the lines to `out`.
pub fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
  let w: Vec<usize> = head
    .iter()
    .enumerate()
    .map(|(i, h)| rows.iter().map(|r| js_len(&r[i])).chain([js_len(h)]).max().unwrap_or(0))
    .collect();
  let line = |cells: Vec<&str>| {
    let s: Vec<String> = cells.iter().enumerate().map(|(i, c)| pad_end(c, w[i])).collect();
    s.join("  ").trim_end_matches(|c: char| c.is_whitespace() || c == '\u{feff}').to_string()
  };
  out.push_str(&line(head.to_vec()));
  out.push('\n');
  out.push_str(&w.iter().map(|n| "─".repeat(*n)).collect::<Vec<_>>().join("  "));
  out.push('\n');
  for r in rows {
    out.push_str(&line(r.iter().map(String::as_str).collect()));
    out.push('\n');
  }
}

/// `JSON.stringify(value, null, 2)` of a value whose maps keep their order.
pub fn json_pretty<T: Serialize>(value: &T) -> String {
  let mut buf = Vec::new();
  // Serializing to memory fails only for non-string map keys, which the documents do not have.
  if write_json_pretty(&mut buf, value).is_err() {
    return "null".into();
  }
  String::from_utf8(buf).unwrap_or_default()
}

/// [`json_pretty`] written to `w` as it is serialized.
pub fn write_json_pretty<W: io::Write, T: Serialize>(w: W, value: &T) -> io::Result<()> {
  let mut ser = serde_json::Serializer::with_formatter(w, JsFormatter::default());
  value.serialize(&mut ser).map_err(io::Error::other)
}

/// serde_json's pretty printer (2 spaces, as JSON.stringify) with JavaScript's numbers.
struct JsFormatter(serde_json::ser::PrettyFormatter<'static>);

impl Default for JsFormatter {
  fn default() -> Self {
    JsFormatter(serde_json::ser::PrettyFormatter::with_indent(b"  "))
  }
}

use serde_json::ser::Formatter;

impl Formatter for JsFormatter {
  fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
    // JSON.stringify writes NaN and ±Infinity as null.
    let s = if value.is_finite() { js_number(value) } else { "null".into() };
    w.write_all(s.as_bytes())
  }
  fn write_f32<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
    self.write_f64(w, f64::from(value))
  }
  fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
    self.0.begin_array(w)
  }
  fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
    self.0.end_array(w)
  }
  fn begin_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
    self.0.begin_array_value(w, first)
  }
  fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
    self.0.end_array_value(w)
  }
  fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
    self.0.begin_object(w)
  }
  fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
    self.0.end_object(w)
  }
  fn begin_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
    self.0.begin_object_key(w, first)
  }
  fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
    self.0.begin_object_value(w)
  }
  fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
    self.0.end_object_value(w)
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn numbers_print_as_javascript_prints_them() {
    // Expected values are what `String(x)` gives in Node.js.
    let cases: &[(f64, &str)] = &[
      (0.0, "0"),
      (-0.0, "0"),
      (1.0, "1"),
      (100.0, "100"),
      (123.456, "123.456"),
      (0.1 + 0.2, "0.30000000000000004"),
      (0.000001, "0.000001"),
      (0.0000001, "1e-7"),
      (1.5e-7, "1.5e-7"),
      (1e21, "1e+21"),
      (1e20, "100000000000000000000"),
      (1.5e300, "1.5e+300"),
      (-2.5, "-2.5"),
      (12.000000000000002, "12.000000000000002"),
      (4294967296.0, "4294967296"),
    ];
    for (x, want) in cases {
      assert_eq!(js_number(*x), *want, "{x:?}");
    }
  }

  #[test]
  fn to_fixed_rounds_exact_ties_up() {
    // (1.125).toFixed(2) === '1.13' (an exact tie; Rust's {:.2} gives 1.12);
    // (1.005).toFixed(2) === '1.00' (1.005 is really 1.00499999999999989...).
    assert_eq!(to_fixed(1.125, 2), "1.13");
    assert_eq!(format!("{:.2}", 1.125), "1.12");
    assert_eq!(to_fixed(1.005, 2), "1.00");
    assert_eq!(to_fixed(9.995, 2), "9.99");
    assert_eq!(to_fixed(9.999, 2), "10.00");
    assert_eq!(to_fixed(0.05, 1), "0.1");
    assert_eq!(to_fixed(2.5, 0), "3");
    assert_eq!(to_fixed(0.0, 1), "0.0");
  }

  #[test]
  fn cli_units() {
    assert_eq!(fmt_ms(0.4), "0ms");
    assert_eq!(fmt_ms(0.5), "1ms");
    assert_eq!(fmt_ms(999.4), "999ms");
    assert_eq!(fmt_ms(999.6), "1000ms");
    assert_eq!(fmt_ms(1125.0), "1.13s");
    assert_eq!(fmt_bytes(0.0), "0 B");
    assert_eq!(fmt_bytes(1023.0), "1023 B");
    assert_eq!(fmt_bytes(1024.0), "1.0 KiB");
    assert_eq!(fmt_bytes(1536.0 * 1024.0), "1.5 MiB");
    assert_eq!(fmt_bytes(3.0 * (1u64 << 30) as f64), "3.00 GiB");
  }

  #[test]
  fn tables_pad_by_utf16_length() {
    let mut s = String::new();
    table(
      &mut s,
      &["task", "cache"],
      &[vec!["✓ web".into(), "hit".into()], vec!["✓ backend".into(), "-".into()]],
    );
    assert_eq!(s, "task       cache\n─────────  ─────\n✓ web      hit\n✓ backend  -\n");
    assert_eq!(pad_start("7ms", 7), "    7ms");
    assert_eq!(js_slice("a😀b", 2), "a");
  }

  #[test]
  fn json_matches_json_stringify() {
    let v =
      serde_json::json!({ "a": 1.0, "b": [], "c": {}, "d": [1, 2.5], "e": "x\u{1b}\"", "f": null });
    assert_eq!(
      json_pretty(&v),
      "{\n  \"a\": 1,\n  \"b\": [],\n  \"c\": {},\n  \"d\": [\n    1,\n    2.5\n  ],\n  \"e\": \"x\\u001b\\\"\",\n  \"f\": null\n}"
    );
  }
}
