//! Tests of the artifact format (deterministic bytes, all-or-nothing verified unpack, escape
//! refusals), the signature scheme and the settings.

use std::io::Write as _;

use serde_json::json;

use super::super::tests::{assert_outputs, opts, save_seed};
use super::super::{Entry, OutputKind, OutputRecord, Store};
use super::artifact::{pack, unpack_into, verify, ArtifactError};
use super::settings::{BackendSpec, RemoteSettings};
use super::sign::{SignatureError, Signer};
use super::RemoteCache;
use crate::config::RemoteCacheConfig;
use crate::hash::tests::TempDir;
use crate::hash::Digest;

const LIMIT: u64 = 1 << 30;

/// A tar.zst from raw members (name, type, contents), for hostile artifacts.
fn raw_artifact(members: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
  let mut b = tar::Builder::new(Vec::new());
  for (name, kind, data) in members {
    let mut h = tar::Header::new_gnu();
    // `set_path` refuses `..`; write the name bytes directly, as an attacker would.
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(*kind);
    if *kind == tar::EntryType::Symlink {
      h.set_link_name("/etc/passwd").unwrap();
    }
    h.set_cksum();
    b.append(&h, *data).unwrap();
  }
  zstd::stream::encode_all(b.into_inner().unwrap().as_slice(), 3).unwrap()
}

fn entry_of(store: &Store, key: &str) -> Entry {
  serde_json::from_slice(&std::fs::read(store.entry_path(key)).unwrap()).unwrap()
}

#[test]
fn pack_is_deterministic_and_round_trips_into_another_store() {
  let t = TempDir::new("art-rt");
  let a = Store::open(t.path().join("a"), opts()).unwrap();
  let work = t.path().join("work");
  let m = save_seed(&a, &work, 3);
  let one = pack(&a, &m.key).unwrap();
  let two = pack(&a, &m.key).unwrap();
  assert_eq!(one, two, "the same entry packs to the same bytes");
  // Another store (another machine) gets the entry and restores identical outputs.
  let b = Store::open(t.path().join("b"), opts()).unwrap();
  assert!(b.lookup(&m.key).unwrap().is_none());
  let imported = unpack_into(&b, &one, &m.key, LIMIT).unwrap();
  assert!(imported.new_blobs >= 4, "{imported:?}");
  let entry = b.lookup(&m.key).unwrap().expect("hit after import");
  assert_eq!(entry, entry_of(&a, &m.key));
  let out = t.path().join("out");
  let report = b.restore(&entry, &[("dist", &out)]).unwrap();
  assert_outputs(&out, 3);
  assert_eq!(report.logs, vec!["building 3".to_string(), "done".to_string()]);
  // Re-packing from the second store gives the very same artifact.
  assert_eq!(pack(&b, &m.key).unwrap(), one);
}

#[test]
fn unpack_refuses_another_key_and_writes_nothing() {
  let t = TempDir::new("art-key");
  let a = Store::open(t.path().join("a"), opts()).unwrap();
  let m = save_seed(&a, &t.path().join("w"), 4);
  let bytes = pack(&a, &m.key).unwrap();
  let b = Store::open(t.path().join("b"), opts()).unwrap();
  let other = "0123456789abcdef0123456789abcdef";
  let e = unpack_into(&b, &bytes, other, LIMIT).unwrap_err();
  assert!(matches!(e, ArtifactError::WrongKey { .. }), "{e}");
  assert!(b.peek(other).unwrap().is_none());
  assert!(b.peek(&m.key).unwrap().is_none());
}

#[test]
fn unpack_refuses_truncated_and_tampered_artifacts() {
  let t = TempDir::new("art-bad");
  let a = Store::open(t.path().join("a"), opts()).unwrap();
  let m = save_seed(&a, &t.path().join("w"), 5);
  let bytes = pack(&a, &m.key).unwrap();
  let b = Store::open(t.path().join("b"), opts()).unwrap();
  for cut in [bytes.len() / 2, bytes.len() - 1, 10] {
    assert!(unpack_into(&b, &bytes[..cut], &m.key, LIMIT).is_err(), "truncated at {cut}");
  }
  // A blob replaced by other contents under its old name.
  let entry = entry_of(&a, &m.key);
  let json = serde_json::to_vec(&entry).unwrap();
  let mut members: Vec<(String, Vec<u8>)> = vec![("entry.json".into(), json)];
  let mut tampered = false;
  for blob in entry.blobs() {
    let mut data = std::fs::read(a.blob_path(blob.hash)).unwrap();
    if blob.size > 100 && !tampered {
      data[50] ^= 1;
      tampered = true;
    }
    members.push((format!("blobs/{}", blob.hash.to_hex()), data));
  }
  let refs: Vec<(&str, tar::EntryType, &[u8])> =
    members.iter().map(|(n, d)| (n.as_str(), tar::EntryType::Regular, d.as_slice())).collect();
  assert!(tampered);
  let e = unpack_into(&b, &raw_artifact(&refs), &m.key, LIMIT).unwrap_err();
  assert!(matches!(e, ArtifactError::BlobDigest(_)), "{e}");
  // Too large for the cap.
  let e = unpack_into(&b, &bytes, &m.key, 1000).unwrap_err();
  assert!(matches!(e, ArtifactError::TooLarge { .. }), "{e}");
  assert!(b.peek(&m.key).unwrap().is_none(), "nothing was written");
  assert_eq!(std::fs::read_dir(b.dir().join("blobs")).unwrap().count(), 0);
}

#[test]
fn unpack_refuses_path_escapes_links_and_strangers() {
  let key = "00112233445566778899aabbccddeeff";
  let t = TempDir::new("art-esc");
  let b = Store::open(t.path().join("b"), opts()).unwrap();
  let cases: Vec<Vec<(&str, tar::EntryType, &[u8])>> = vec![
    vec![("../../evil", tar::EntryType::Regular, b"x")],
    vec![("/etc/cron.d/x", tar::EntryType::Regular, b"x")],
    vec![("blobs/../../x", tar::EntryType::Regular, b"x")],
    vec![("entry.json", tar::EntryType::Symlink, b"")],
    vec![("blobs", tar::EntryType::Directory, b"")],
    vec![("notes.txt", tar::EntryType::Regular, b"x")],
  ];
  for c in &cases {
    let e = unpack_into(&b, &raw_artifact(c), key, LIMIT).unwrap_err();
    assert!(matches!(e, ArtifactError::Member { .. }), "{:?}: {e}", c[0].0);
  }
  // A well-formed artifact whose entry writes outside its output directory.
  let data = b"#!/bin/sh\n".to_vec();
  let blob = super::super::BlobRef { hash: Digest::of_bytes(&data), size: data.len() as u64 };
  let manifest = b"{}".to_vec();
  let mref = super::super::BlobRef { hash: Digest::of_bytes(&manifest), size: 2 };
  let rec = |path: &str, kind, blob, target: Option<&str>| OutputRecord {
    label: "dist".into(),
    path: path.into(),
    kind,
    mode: 0o755,
    blob,
    target: target.map(str::to_owned),
  };
  let escapes = [
    vec![
      rec("", OutputKind::Dir, None, None),
      rec("../../.bashrc", OutputKind::File, Some(blob), None),
    ],
    vec![
      rec("", OutputKind::Dir, None, None),
      rec("l", OutputKind::Symlink, None, Some("../../../etc")),
    ],
  ];
  for outputs in escapes {
    let entry = Entry {
      format: super::super::ENTRY_FORMAT,
      key: key.into(),
      task: "t".into(),
      created_unix_ms: 0,
      outputs,
      result: json!({}),
      logs: None,
      manifest: mref,
      size: 0,
    };
    let json = serde_json::to_vec(&entry).unwrap();
    let mut members = vec![("entry.json".to_string(), json)];
    for bl in entry.blobs() {
      let d = if bl.hash == blob.hash { data.clone() } else { manifest.clone() };
      members.push((format!("blobs/{}", bl.hash.to_hex()), d));
    }
    let refs: Vec<(&str, tar::EntryType, &[u8])> =
      members.iter().map(|(n, d)| (n.as_str(), tar::EntryType::Regular, d.as_slice())).collect();
    let bytes = raw_artifact(&refs);
    let e = verify(&bytes, key, LIMIT).unwrap_err();
    assert!(matches!(e, ArtifactError::UnsafePath { .. }), "{e}");
    assert!(unpack_into(&b, &bytes, key, LIMIT).is_err());
  }
  assert!(b.peek(key).unwrap().is_none());
}

#[test]
fn signature_matches_the_turborepo_scheme() {
  // HMAC-SHA256(key, hash || team || body), standard base64 (computed independently with
  // Python's hmac module).
  let s = Signer::new(b"x3vq8mFz0J".to_vec(), "tH7sL1Rn9K");
  let tag = s.tag("d5b7e4688f", &[5, 72, 219, 39, 156]);
  assert_eq!(tag, "ki5kbVnrrPqbWiWxMWbW3OE6Q6SXmbqEpfGvEFQWbZw=");
  assert_eq!(s.verify("d5b7e4688f", &[5, 72, 219, 39, 156], Some(&tag)), Ok(()));
}

#[test]
fn signature_refuses_tampering_other_keys_ids_teams_and_missing_tags() {
  let s = Signer::new(b"secret".to_vec(), "team_a");
  let body = b"artifact bytes".to_vec();
  let tag = s.tag("farm1-aa", &body);
  let mut bad = body.clone();
  bad[0] ^= 1;
  assert_eq!(s.verify("farm1-aa", &bad, Some(&tag)), Err(SignatureError::Mismatch));
  assert_eq!(s.verify("farm1-bb", &body, Some(&tag)), Err(SignatureError::Mismatch));
  let other_team = Signer::new(b"secret".to_vec(), "team_b");
  assert_eq!(other_team.verify("farm1-aa", &body, Some(&tag)), Err(SignatureError::Mismatch));
  let other_key = Signer::new(b"secret2".to_vec(), "team_a");
  assert_eq!(other_key.verify("farm1-aa", &body, Some(&tag)), Err(SignatureError::Mismatch));
  assert_eq!(s.verify("farm1-aa", &body, None), Err(SignatureError::Missing));
  assert_eq!(s.verify("farm1-aa", &body, Some("not base64!")), Err(SignatureError::Malformed));
  assert!(!format!("{s:?}").contains("secret"), "Debug hides the key");
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
  let map: std::collections::HashMap<String, String> =
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
  move |k| map.get(k).cloned()
}

#[test]
fn settings_come_from_config_and_env() {
  assert!(RemoteSettings::resolve(None, &env_of(&[])).unwrap().is_none());
  let cfg = RemoteCacheConfig {
    url: Some("http://127.0.0.1:3000".into()),
    team: Some("team_x".into()),
    token_env: Some("MY_TOKEN".into()),
    read: true,
    write: true,
    ..Default::default()
  };
  let s = RemoteSettings::resolve(Some(&cfg), &env_of(&[("MY_TOKEN", "t0k3n")])).unwrap().unwrap();
  assert_eq!(
    s.backend,
    BackendSpec::Turbo { url: "http://127.0.0.1:3000".into(), token: Some("t0k3n".into()) }
  );
  assert!(s.read && s.write && s.signer.is_none());
  assert!(!format!("{s:?}").contains("t0k3n"), "Debug hides the token");
  // Env overrides: URL, team, read-only.
  let s = RemoteSettings::resolve(
    Some(&cfg),
    &env_of(&[
      ("FARM_REMOTE_CACHE_URL", "http://127.0.0.1:9/"),
      ("FARM_REMOTE_CACHE_TEAM", "ci"),
      ("FARM_REMOTE_CACHE_READ_ONLY", "1"),
    ]),
  )
  .unwrap()
  .unwrap();
  assert_eq!(s.backend, BackendSpec::Turbo { url: "http://127.0.0.1:9".into(), token: None });
  assert_eq!(s.team, "ci");
  assert!(s.read && !s.write);
  // The URL alone turns it on; a bad one is a setup error naming the variable.
  assert!(RemoteSettings::resolve(None, &env_of(&[("FARM_REMOTE_CACHE_URL", "http://h:1")]))
    .unwrap()
    .is_some());
  let e =
    RemoteSettings::resolve(None, &env_of(&[("FARM_REMOTE_CACHE_URL", "ftp://h")])).unwrap_err();
  assert!(e.to_string().contains("FARM_REMOTE_CACHE_URL"), "{e}");
  // A signature key env var that is named but unset turns the remote off (never unsigned).
  let signed = RemoteCacheConfig { signature_key_env: Some("SIG".into()), ..cfg.clone() };
  let e = RemoteSettings::resolve(Some(&signed), &env_of(&[])).unwrap_err();
  assert!(e.to_string().contains("SIG"), "{e}");
  let s = RemoteSettings::resolve(Some(&signed), &env_of(&[("SIG", "k")])).unwrap().unwrap();
  assert!(s.signer.is_some());
}

#[test]
fn an_az_url_in_bucket_is_an_azure_container() {
  let cfg = RemoteCacheConfig {
    bucket: Some("az://farm-cache".into()),
    endpoint: Some("http://127.0.0.1:10000/devstoreaccount1/".into()),
    prefix: Some("ci/farm".into()),
    read: true,
    write: true,
    ..Default::default()
  };
  let s = RemoteSettings::resolve(Some(&cfg), &env_of(&[])).unwrap().unwrap();
  assert_eq!(
    s.backend,
    BackendSpec::Azure {
      container: "farm-cache".into(),
      endpoint: Some("http://127.0.0.1:10000/devstoreaccount1".into()),
      prefix: "ci/farm".into(),
    }
  );
  assert_eq!(
    s.backend.location(),
    "az://farm-cache/ci/farm at http://127.0.0.1:10000/devstoreaccount1"
  );
  assert!(!super::tls::needs_tls(&s.backend), "Azurite over plain http");
  let azure = RemoteCacheConfig { endpoint: None, prefix: None, ..cfg };
  let s = RemoteSettings::resolve(Some(&azure), &env_of(&[])).unwrap().unwrap();
  assert_eq!(s.backend.location(), "az://farm-cache/farm-cache");
  assert!(super::tls::needs_tls(&s.backend), "<account>.blob.core.windows.net over https");
  // Without an account, opening it is a setup error (a warning at build time), not a panic.
  let env_has_account = std::env::var_os("AZURE_STORAGE_ACCOUNT_NAME").is_some()
    || std::env::var_os("AZURE_STORAGE_ACCOUNT").is_some();
  if !env_has_account {
    let e = RemoteCache::open(&s).unwrap_err().to_string();
    assert!(e.contains("Azure container farm-cache"), "{e}");
  }
  // Config validation: a container name, or the fix.
  let check = |bucket: &str| {
    let cfg = json!({ "appName": "a", "cache": { "remote": { "bucket": bucket } } });
    crate::config::FarmConfig::from_json(cfg, "farm.config.json")
      .map(|_| ())
      .map_err(|e| e.to_string())
  };
  assert_eq!(check("az://farm-cache"), Ok(()));
  for bad in ["az://Farm", "az://a", "az://farm.cache", "az://-farm", "az://farm--cache", "az://"] {
    let e = check(bad).unwrap_err();
    assert!(e.contains("cache.remote.bucket") && e.contains("Azure container"), "{bad}: {e}");
  }
}

#[test]
fn config_validation_names_field_and_fix() {
  let check = |v: serde_json::Value| {
    let cfg = json!({ "appName": "a", "cache": { "remote": v } });
    crate::config::FarmConfig::from_json(cfg, "farm.config.json")
      .map(|_| ())
      .map_err(|e| e.to_string())
  };
  assert_eq!(check(json!({ "url": "http://127.0.0.1:3000", "team": "t" })), Ok(()));
  let e = check(json!({ "url": "http://u:p@127.0.0.1:3000" })).unwrap_err();
  assert!(e.contains("cache.remote.url") && e.contains("Fix:"), "{e}");
  let e = check(json!({ "tokenEnv": "abc-123-secret-value" })).unwrap_err();
  assert!(e.contains("cache.remote.tokenEnv") && e.contains("never the secret"), "{e}");
  let e = check(json!({ "url": "http://a:1", "bucket": "b-b-b" })).unwrap_err();
  assert!(e.contains("cache.remote.url"), "{e}");
  let e = check(json!({ "timeoutMs": 0 })).unwrap_err();
  assert!(e.contains("cache.remote.timeoutMs"), "{e}");
  let e = check(json!({ "token": "x" })).unwrap_err();
  assert!(e.contains("token"), "{e}");
  let _ = std::io::stderr().flush();
}

#[test]
fn upload_target_resolution_and_refusals() {
  use super::upload::UploadTarget;
  use crate::config::FarmConfig;
  let cfg = |v: serde_json::Value| FarmConfig::from_json(v, "farm.config.json").unwrap();
  let plain = cfg(json!({ "appName": "a" }));
  assert!(UploadTarget::resolve(&plain, false, &env_of(&[])).unwrap().is_none());
  let e = UploadTarget::resolve(&plain, true, &env_of(&[])).unwrap_err();
  assert!(e.to_string().contains("build.upload"), "{e}");
  // --upload falls back to the remote cache's store.
  let t = UploadTarget::resolve(
    &plain,
    true,
    &env_of(&[("FARM_REMOTE_CACHE_URL", "http://127.0.0.1:2")]),
  )
  .unwrap()
  .unwrap();
  assert_eq!(t.location(), "http://127.0.0.1:2");
  // build.upload names its own store: the cache's URL override does not redirect it.
  let own = cfg(json!({ "appName": "a", "build": { "upload": { "url": "http://127.0.0.1:1" } } }));
  let t =
    UploadTarget::resolve(&own, false, &env_of(&[("FARM_REMOTE_CACHE_URL", "http://127.0.0.1:2")]))
      .unwrap()
      .unwrap();
  assert_eq!(t.location(), "http://127.0.0.1:1");
  let e = UploadTarget::resolve(&own, false, &env_of(&[("FARM_REMOTE_CACHE_READ_ONLY", "1")]))
    .unwrap_err();
  assert!(e.to_string().contains("READ_ONLY"), "{e}");
  let e = FarmConfig::from_json(
    json!({ "appName": "a", "build": { "upload": { "prefix": "x" } } }),
    "f.json",
  )
  .unwrap_err()
  .to_string();
  assert!(e.contains("build.upload") && e.contains("Fix:"), "{e}");
}
