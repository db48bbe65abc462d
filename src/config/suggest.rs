//! "Did you mean" suggestions for misspelt keys.

/// The known key closest to `word` (case-insensitive edit distance ≤ 2, or a case-only difference).
pub fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
  let w = word.to_ascii_lowercase();
  known
    .iter()
    .map(|k| (distance(&w, &k.to_ascii_lowercase()), *k))
    .filter(|(d, _)| *d <= 2)
    .min_by_key(|(d, _)| *d)
    .map(|(_, k)| k)
}

/// Levenshtein distance between two strings, by characters.
fn distance(a: &str, b: &str) -> usize {
  let b: Vec<char> = b.chars().collect();
  let mut prev: Vec<usize> = (0..=b.len()).collect();
  for (i, ca) in a.chars().enumerate() {
    let mut cur = vec![i + 1; b.len() + 1];
    for (j, cb) in b.iter().enumerate() {
      let cost = usize::from(ca != *cb);
      cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
    }
    prev = cur;
  }
  prev[b.len()]
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn suggests_near_keys_only() {
    assert_eq!(closest("outdir", &["outDir", "root"]), Some("outDir"));
    assert_eq!(closest("apName", &["appName", "version"]), Some("appName"));
    assert_eq!(closest("zzzzzz", &["appName", "version"]), None);
  }
}
