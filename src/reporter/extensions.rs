//! Extensions: operator-chosen `name: value` pairs added to the report.
//!
//! As in the original spartakus, `--extensions PATH` names a JSON file `{"key": "value", ...}` or a
//! directory of such files. In a directory, dotfiles and subdirectories are skipped, so a mounted
//! ConfigMap (with its `..data` links) works. Every problem names the file and the key; nothing is
//! silently dropped.

use crate::contract::Extension;
use crate::contract::limits::{
    MAX_EXTENSION_LOCAL_CHARS, MAX_EXTENSION_PREFIX_CHARS, MAX_EXTENSIONS, MAX_STRING_CHARS,
};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Checks an extension key: `[prefix/]name`, where prefix is a DNS subdomain (at most 253
/// characters of lowercase letters, digits, `-` and `.`) and name is at most 63 characters of
/// letters, digits, `-`, `_` and `.`, beginning and ending with a letter or digit.
pub(crate) fn validate_key(key: &str) -> std::result::Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        validate_dns_subdomain(prefix).map_err(|e| format!("prefix {prefix:?} {e}"))?;
    }
    if name.is_empty() || name.len() > MAX_EXTENSION_LOCAL_CHARS {
        return Err(format!(
            "name {name:?} must be 1 to {MAX_EXTENSION_LOCAL_CHARS} characters long (has {})",
            name.len()
        ));
    }
    let bytes = name.as_bytes();
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(format!(
            "name {name:?} must begin and end with a letter or digit"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "name {name:?} has the character {bad:?}; allowed are letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

fn validate_dns_subdomain(prefix: &str) -> std::result::Result<(), String> {
    if prefix.is_empty() || prefix.len() > MAX_EXTENSION_PREFIX_CHARS {
        return Err(format!(
            "must be a DNS subdomain of 1 to {MAX_EXTENSION_PREFIX_CHARS} characters"
        ));
    }
    for label in prefix.split('.') {
        let b = label.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 63
            && b.iter()
                .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-';
        if !ok {
            return Err(format!(
                "must be a DNS subdomain (lowercase letters, digits, '-', dot-separated labels); label {label:?} is not"
            ));
        }
    }
    Ok(())
}

/// A JSON object's entries in file order, duplicates kept (a map would silently keep only one).
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object of \"key\": \"value\" pairs")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Parses one extensions file's contents. `source` names the file in messages.
pub(crate) fn parse(source: &str, bytes: &[u8]) -> Result<Vec<Extension>> {
    let Entries(entries) = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => anyhow::anyhow!(
            "extensions file {source}: must be a JSON object of \"key\": \"value\" pairs"
        ),
        _ => anyhow::anyhow!("extensions file {source}: not valid JSON: {e}"),
    })?;
    let mut out: Vec<Extension> = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        if out.iter().any(|e| e.name == key) {
            bail!("extensions file {source}: key {key:?} is given twice");
        }
        validate_key(&key)
            .map_err(|e| anyhow::anyhow!("extensions file {source}: key {key:?}: {e}"))?;
        let serde_json::Value::String(value) = value else {
            bail!("extensions file {source}: key {key:?}: the value must be a string, not {value}");
        };
        let chars = value.chars().count();
        if chars > MAX_STRING_CHARS {
            bail!(
                "extensions file {source}: key {key:?}: the value is {chars} characters long; at most {MAX_STRING_CHARS} are allowed"
            );
        }
        if value.chars().any(char::is_control) {
            bail!(
                "extensions file {source}: key {key:?}: the value contains control characters (a newline?)"
            );
        }
        out.push(Extension { name: key, value });
    }
    Ok(out)
}

/// Merges the extensions of several files (in the order given), refusing a key defined twice and
/// more than [`MAX_EXTENSIONS`] in all. The result is sorted by name.
pub(crate) fn merge(files: Vec<(String, Vec<Extension>)>) -> Result<Vec<Extension>> {
    let mut seen: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (source, extensions) in files {
        for Extension { name, value } in extensions {
            if let Some((first, _)) = seen.get(&name) {
                bail!("extensions: key {name:?} is defined in both {first} and {source}");
            }
            seen.insert(name, (source.clone(), value));
        }
    }
    if seen.len() > MAX_EXTENSIONS {
        bail!(
            "extensions: {} keys given; at most {MAX_EXTENSIONS} are allowed",
            seen.len()
        );
    }
    Ok(seen
        .into_iter()
        .map(|(name, (_, value))| Extension { name, value })
        .collect())
}

/// Reads the extensions at `path`: a file, or a directory of files.
pub(crate) fn load(path: &Path) -> Result<Vec<Extension>> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("extensions: reading {}", path.display()))?;
    let files: Vec<PathBuf> = if meta.is_dir() {
        let mut files = Vec::new();
        let entries = std::fs::read_dir(path)
            .with_context(|| format!("extensions: listing directory {}", path.display()))?;
        for entry in entries {
            let entry = entry
                .with_context(|| format!("extensions: listing directory {}", path.display()))?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let file = entry.path();
            // Follows links: a ConfigMap key is a link into `..data/`.
            let meta = std::fs::metadata(&file)
                .with_context(|| format!("extensions: reading {}", file.display()))?;
            if meta.is_file() {
                files.push(file);
            }
        }
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut parsed = Vec::with_capacity(files.len());
    for file in files {
        let bytes = std::fs::read(&file)
            .with_context(|| format!("extensions: reading {}", file.display()))?;
        let source = file.display().to_string();
        parsed.push((source.clone(), parse(&source, &bytes)?));
    }
    merge(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for ok in [
            "tier",
            "example.com/tier",
            "a",
            "my-team.example.org/cost_center.v2",
            "A1",
            &format!("{}/x", "a".repeat(63)),
            &"n".repeat(63),
        ] {
            assert_eq!(validate_key(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "/tier",
            "Example.com/tier",
            "example.com/",
            "-tier",
            "tier-",
            "ti er",
            "a/b/c",
            "exa_mple.com/tier",
            "example..com/tier",
            "-example.com/tier",
            &"n".repeat(64),
            &format!("{}/x", "a".repeat(64)),
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn parse_names_file_and_key() {
        let got = parse("ext.json", br#"{"b": "2", "example.com/a": "1"}"#).unwrap();
        assert_eq!(got.len(), 2);
        let err = format!(
            "{:#}",
            parse("ext.json", br#"{"bad key": "1"}"#).unwrap_err()
        );
        assert!(err.contains("ext.json") && err.contains("bad key"), "{err}");
        let err = format!("{:#}", parse("f.json", br#"{"n": 3}"#).unwrap_err());
        assert!(
            err.contains("f.json") && err.contains("\"n\"") && err.contains("string"),
            "{err}"
        );
        let err = format!("{:#}", parse("f.json", b"[1]").unwrap_err());
        assert!(err.contains("JSON object"), "{err}");
        let err = format!(
            "{:#}",
            parse("f.json", br#"{"k": "1", "k": "2"}"#).unwrap_err()
        );
        assert!(
            err.contains("f.json") && err.contains("\"k\"") && err.contains("twice"),
            "{err}"
        );
        let err = format!("{:#}", parse("f.json", b"{").unwrap_err());
        assert!(
            err.contains("f.json") && err.contains("not valid JSON"),
            "{err}"
        );
        let long = format!(r#"{{"k": "{}"}}"#, "é".repeat(MAX_STRING_CHARS + 1));
        assert!(parse("f.json", long.as_bytes()).is_err());
        let fits = format!(r#"{{"k": "{}"}}"#, "é".repeat(MAX_STRING_CHARS));
        assert!(
            parse("f.json", fits.as_bytes()).is_ok(),
            "the limit is in characters"
        );
        assert!(parse("f.json", br#"{"k": "a\nb"}"#).is_err());
        // The longest key that passes is within the collector's limit for names.
        let longest = format!(
            "{}/{}",
            "a".repeat(MAX_EXTENSION_PREFIX_CHARS),
            "n".repeat(MAX_EXTENSION_LOCAL_CHARS)
        );
        assert!(validate_key(&longest).is_err(), "labels are at most 63");
        let labels = vec!["a".repeat(63); 4].join(".");
        let longest = format!(
            "{}/{}",
            &labels[..MAX_EXTENSION_PREFIX_CHARS],
            "n".repeat(MAX_EXTENSION_LOCAL_CHARS)
        );
        assert_eq!(validate_key(&longest), Ok(()));
        assert_eq!(
            longest.chars().count(),
            crate::contract::limits::MAX_EXTENSION_NAME_CHARS
        );
    }

    #[test]
    fn merge_sorts_and_refuses_duplicates() {
        let e = |n: &str| Extension {
            name: n.into(),
            value: "v".into(),
        };
        let merged = merge(vec![
            ("one".into(), vec![e("zeta")]),
            ("two".into(), vec![e("alpha"), e("mid")]),
        ])
        .unwrap();
        let names: Vec<_> = merged.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["alpha", "mid", "zeta"]);
        let err = merge(vec![
            ("one".into(), vec![e("k")]),
            ("two".into(), vec![e("k")]),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("one") && err.contains("two") && err.contains("\"k\""));
        let many = (0..=MAX_EXTENSIONS).map(|i| e(&format!("k{i}"))).collect();
        assert!(merge(vec![("f".into(), many)]).is_err());
    }

    #[test]
    fn load_directory_like_a_mounted_configmap() {
        let dir = std::env::temp_dir().join(format!("spartakus-ext-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let data = dir.join("..2026_11_27_00_00_00.1");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("a.json"), br#"{"example.com/a": "1"}"#).unwrap();
        std::fs::write(data.join("b.json"), br#"{"b": "2"}"#).unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("..2026_11_27_00_00_00.1", dir.join("..data")).unwrap();
            std::os::unix::fs::symlink("..data/a.json", dir.join("a.json")).unwrap();
            std::os::unix::fs::symlink("..data/b.json", dir.join("b.json")).unwrap();
        }
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/c.json"), b"not json").unwrap();
        std::fs::write(dir.join(".hidden"), b"not json").unwrap();
        let got = load(&dir).unwrap();
        let names: Vec<_> = got.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["b", "example.com/a"]);

        std::fs::write(dir.join("bad.json"), br#"{"x": 1}"#).unwrap();
        let err = format!("{:#}", load(&dir).unwrap_err());
        assert!(err.contains("bad.json"), "{err}");
        let err = format!("{:#}", load(&dir.join("missing")).unwrap_err());
        assert!(err.contains("missing"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
