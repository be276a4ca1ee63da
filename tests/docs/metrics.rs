//! README's list of the collector's metrics is what `/metrics` serves: every family a collector
//! with a SQLite store exposes is listed (under its prefix), every family listed is exposed,
//! and the values of the `reason` and `result` labels are the ones listed.

use crate::support::collect::{Collector, TempDir, report};
use std::collections::BTreeSet;

/// The families of `page` (from its `# TYPE` lines) with their prefix, and each series' label
/// values as `family{label}=value`.
fn exposed(page: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let families = page
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(String::from)
        .collect();
    let mut values = BTreeSet::new();
    for line in page.lines().filter(|l| !l.starts_with('#')) {
        let Some((family, rest)) = line.split_once('{') else {
            continue;
        };
        let labels = rest.split('}').next().unwrap_or("");
        for pair in labels.split(',') {
            if let Some((label, value)) = pair.split_once('=') {
                values.insert(format!("{family}{{{label}}}={}", value.trim_matches('"')));
            }
        }
    }
    (families, values)
}

/// README's bullets of the Metrics section under the paragraph naming `prefix`: each bullet's
/// text (its lines joined).
fn bullets(readme: &str, prefix: &str) -> Vec<String> {
    let section = readme
        .split("\n### Metrics\n")
        .nth(1)
        .expect("a Metrics section");
    let section = section.split("\n## ").next().unwrap();
    let at = section
        .find(&format!("`{prefix}`"))
        .unwrap_or_else(|| panic!("README's Metrics name no {prefix}"));
    let mut out: Vec<String> = Vec::new();
    for line in section[at..].lines().skip(1) {
        if let Some(bullet) = line.strip_prefix("- ") {
            out.push(bullet.to_string());
        } else if let (Some(last), Some(more)) = (out.last_mut(), line.strip_prefix("  ")) {
            last.push(' ');
            last.push_str(more);
        } else if !out.is_empty() {
            break;
        }
    }
    out
}

/// The backquoted words of `text`.
fn quoted(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The backquoted words a bullet starts with, `a`, `b`, ... (the families it is about).
fn heads(bullet: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = bullet;
    while let Some(after) = rest.strip_prefix('`') {
        let Some((word, more)) = after.split_once('`') else {
            break;
        };
        out.push(word);
        match more.strip_prefix(", ") {
            Some(next) if next.starts_with('`') => rest = next,
            _ => break,
        }
    }
    out
}

/// A family's name as README writes it, `name{labels}`, without its labels.
fn bare(word: &str) -> &str {
    word.split('{').next().unwrap_or(word)
}

#[test]
fn the_readmes_metrics_are_what_metrics_serves() {
    let dir = TempDir::new("docs-metrics");
    let c = Collector::sqlite(&dir, &[]);
    assert_eq!(
        c.post(report("docs-metrics", 3).as_bytes(), &[]).status,
        204
    );
    let page = c.get("/metrics").text();
    let (families, values) = exposed(&page);
    let readme = super::readme();
    for prefix in ["spartakus_collector_", "spartakus_fleet_"] {
        let listed = bullets(&readme, prefix);
        assert!(!listed.is_empty(), "no bullets under {prefix}");
        let words: BTreeSet<String> = listed
            .iter()
            .flat_map(|b| quoted(b))
            .map(|w| format!("{prefix}{}", bare(w)))
            .collect();
        for family in families.iter().filter(|f| f.starts_with(prefix)) {
            assert!(
                words.contains(family),
                "README's Metrics do not list {family}"
            );
        }
        // Each bullet starts with the families it is about: each of those is served.
        for bullet in &listed {
            for word in heads(bullet) {
                let family = format!("{prefix}{}", bare(word));
                assert!(
                    families.contains(&family),
                    "README lists {family}; not served"
                );
            }
        }
    }
    // The values of the labels that README lists one by one.
    for (family, label) in [
        ("reports_rejected_total", "reason"),
        ("forget_requests_total", "result"),
    ] {
        let bullet = bullets(&readme, "spartakus_collector_")
            .into_iter()
            .find(|b| b.starts_with(&format!("`{family}{{{label}}}`")))
            .unwrap_or_else(|| panic!("no README bullet for {family}"));
        let listed: BTreeSet<&str> = quoted(&bullet)
            .into_iter()
            .skip(1)
            .filter(|w| *w != label)
            .collect();
        let key = format!("spartakus_collector_{family}{{{label}}}=");
        let served: BTreeSet<&str> = values
            .iter()
            .filter_map(|v| v.strip_prefix(key.as_str()))
            .collect();
        assert_eq!(listed, served, "{family}'s {label}s");
    }
}
