//! README.md says what the code does: the lists and limits it documents are the code's own, and
//! its examples of the summary are what the binary prints (`docs/examples.rs`).

mod examples;
mod metrics;

use spartakus::contract::anonymize::{KNOWN_PROVIDERS, documented_resources, is_known_resource};
use spartakus::contract::limits;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The backquoted words of the README between `start` and `end`.
fn quoted_between(text: &str, start: &str, end: &str) -> Vec<String> {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("README has no {start:?}"));
    let rest = &text[from + start.len()..];
    let to = rest
        .find(end)
        .unwrap_or_else(|| panic!("README has no {end:?} after {start:?}"));
    rest[..to]
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn the_capacity_allowlist_is_the_codes() {
    let listed =
        quoted_between(&readme(), "<!-- capacity allowlist -->", "<!-- end -->").join(", ");
    let code: Vec<String> = documented_resources()
        .split('`')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect();
    assert_eq!(
        listed,
        code.join(", "),
        "README's capacity list differs from the code's"
    );
    // Each documented pattern admits what it says, and only plain suffixes.
    for pattern in &code {
        match pattern.strip_suffix('*') {
            None => assert!(is_known_resource(pattern), "{pattern}"),
            Some(prefix) => {
                for suffix in ["2Mi", "1g.5gb", "x", "vhost-net"] {
                    assert!(
                        is_known_resource(&format!("{prefix}{suffix}")),
                        "{prefix}{suffix}"
                    );
                }
                assert!(
                    !is_known_resource(&format!("{prefix}acme.corp.example/x")),
                    "{prefix}"
                );
            }
        }
    }
}

#[test]
fn the_provider_allowlist_is_the_codes() {
    let listed = quoted_between(
        &readme(),
        "**Cloud providers** reported by name:",
        "Any other scheme",
    );
    assert_eq!(
        listed, KNOWN_PROVIDERS,
        "README's provider list differs from the code's"
    );
}

/// The row of README's limits table that starts with `value`.
fn limits_row(readme: &str, value: &str) -> String {
    let table = &readme[readme
        .find("**Limits.**")
        .expect("README has a limits table")..];
    table
        .lines()
        .find(|l| l.starts_with(&format!("| {value} |")))
        .unwrap_or_else(|| panic!("README's limits table has no row {value}"))
        .to_string()
}

#[test]
fn the_limits_table_is_the_codes() {
    let text = readme();
    let row = |value: &str| limits_row(&text, value);
    assert!(
        row("`clusterID`").contains(&format!("1 to {} printable", limits::MAX_CLUSTER_ID_CHARS))
    );
    assert!(row("`nodes[].id`").contains(&format!("{} lowercase hex", limits::NODE_ID_HEX)));
    assert!(
        row("every other text value").contains(&format!("{} characters", limits::MAX_STRING_CHARS))
    );
    let capacity = row("`nodes[].capacity`");
    assert!(capacity.contains(&format!("{} entries", limits::MAX_CAPACITY)));
    assert!(capacity.contains(&format!("{} are kept", limits::MAX_CAPACITY - 1)));
    let first: Vec<String> = limits::ESSENTIAL_RESOURCES
        .iter()
        .map(|r| format!("`{r}`"))
        .collect();
    assert!(capacity.contains(&first.join(", ")), "{capacity}");
    assert!(row("`extensions`").contains(&format!("| {} |", limits::MAX_EXTENSIONS)));
    assert!(row("nodes per report").contains("100,000"));
    assert_eq!(limits::MAX_NODES, 100_000);
    assert!(row("the whole report").contains(&format!("{} MiB", limits::MAX_BODY_BYTES >> 20)));
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn the_workload_limits_and_buckets_are_the_codes() {
    let text = readme();
    let row = |value: &str| limits_row(&text, value);
    let last = limits::bucket_label(limits::WORKLOAD_BUCKETS - 1);
    assert!(row("every count of `workloads`").contains(&thousands(limits::MAX_WORKLOAD_COUNT)));
    let buckets = row("`workloads.<kind>.perNamespace`");
    assert!(buckets.contains(&format!("{} buckets", limits::WORKLOAD_BUCKETS)));
    assert!(buckets.contains(&format!("{last} objects")), "{buckets}");
    assert!(row("`workloads.<kind>.age` days").contains(&thousands(limits::MAX_AGE_DAYS)));
    // The buckets as the workload section spells them out.
    let section = &text[text.find("### Workload statistics (opt-in)").unwrap()..];
    let line = section.lines().find(|l| l.contains("**Buckets**")).unwrap();
    let rest = &section[section.find(line).unwrap()..];
    let spelled: String = rest.lines().take(3).collect::<Vec<_>>().join(" ");
    let expected = format!(
        "`0`, `1`, `2-3`, `4-7`, `8-15`, ... doubling, to `{}`, and the last, {}nd, `{last}`",
        limits::bucket_label(limits::WORKLOAD_BUCKETS - 2),
        limits::WORKLOAD_BUCKETS
    );
    assert!(spelled.contains(&expected), "{spelled}");
    for i in 0..5 {
        assert!(expected.contains(&format!("`{}`", limits::bucket_label(i))));
    }
}

/// The workload part README shows is one a reporter writes: the collector takes it without a
/// clamp, every kind is there under its resource name, and each histogram counts every
/// namespace once.
#[test]
fn the_readmes_workload_part_is_accepted_as_it_is() {
    use spartakus::contract::ObjectKind;
    let all = readme();
    let section = &all[all.find("### Workload statistics (opt-in)").unwrap()..];
    let start = section.find("```json\n").unwrap() + "```json\n".len();
    let part = &section[start..start + section[start..].find("```").unwrap()];
    let report = format!(r#"{{"version":"v1.0.0","clusterID":"c",{part}}}"#);
    let (parsed, clamps) = spartakus::contract::parse(report.as_bytes()).unwrap();
    assert!(clamps.is_empty(), "{clamps}");
    let workloads = parsed.workloads.unwrap();
    let namespaces = workloads.namespace_count().unwrap();
    for kind in ObjectKind::ALL {
        let stats = workloads
            .get(kind)
            .unwrap_or_else(|| panic!("{kind:?} missing"));
        if kind.namespaced() {
            assert_eq!(
                stats.per_namespace.iter().sum::<u64>(),
                namespaces,
                "{kind:?}"
            );
        }
        assert_eq!(stats.age.is_some(), kind.with_ages(), "{kind:?}");
        assert!(
            section.contains(&format!("`{}`", kind.name())),
            "{kind:?} in the table"
        );
    }
}

/// README's headings outside code blocks, as (level, title, GitHub's anchor).
fn headings(text: &str) -> Vec<(usize, String, String)> {
    let mut in_code = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        let level = line.chars().take_while(|&c| c == '#').count();
        if in_code || !(1..=6).contains(&level) || !line[level..].starts_with(' ') {
            continue;
        }
        let title = line[level + 1..].to_string();
        let anchor = title
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        out.push((level, title, anchor));
    }
    out
}

/// The table of contents lists every section, in order, and every `(#anchor)` link of README
/// leads to a heading.
#[test]
fn the_table_of_contents_and_the_links_lead_to_the_sections() {
    let text = readme();
    let sections = headings(&text);
    let listed: Vec<String> = sections
        .iter()
        .filter(|(level, title, _)| (2..=3).contains(level) && title != "Contents")
        .map(|(level, title, anchor)| format!("{}- [{title}](#{anchor})", "  ".repeat(level - 2)))
        .collect();
    let from = text
        .find("## Contents\n\n")
        .expect("README has a table of contents")
        + 13;
    let toc: Vec<&str> = text[from..].lines().take_while(|l| !l.is_empty()).collect();
    assert_eq!(
        toc, listed,
        "README's table of contents is not its sections"
    );
    let anchors: Vec<&str> = sections.iter().map(|(_, _, a)| a.as_str()).collect();
    for link in text.split("](#").skip(1) {
        let anchor = &link[..link.find(')').unwrap()];
        assert!(
            anchors.contains(&anchor),
            "README links to #{anchor}, no heading"
        );
    }
}
