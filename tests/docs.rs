//! README.md says what the code does: the lists and limits it documents are the code's own.

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

#[test]
fn the_limits_table_is_the_codes() {
    let all = readme();
    let text = &all[all.find("**Limits.**").expect("README has a limits table")..];
    let row = |value: &str| -> String {
        text.lines()
            .find(|l| l.starts_with(&format!("| {value} |")))
            .unwrap_or_else(|| panic!("README's limits table has no row {value}"))
            .to_string()
    };
    assert!(
        row("`clusterID`").contains(&format!("1 to {} printable", limits::MAX_CLUSTER_ID_CHARS))
    );
    assert!(row("`nodes[].id`").contains(&format!("{} lowercase hex", limits::NODE_ID_HEX)));
    assert!(
        row("every other text value").contains(&format!("{} characters", limits::MAX_STRING_CHARS))
    );
    let capacity = row("`nodes[].capacity`");
    assert!(capacity.contains(&format!("{} entries", limits::MAX_CAPACITY)));
    assert!(capacity.contains(&format!("first {} are kept", limits::MAX_CAPACITY - 1)));
    assert!(row("`extensions`").contains(&format!("| {} |", limits::MAX_EXTENSIONS)));
    assert!(row("nodes per report").contains("100,000"));
    assert_eq!(limits::MAX_NODES, 100_000);
    assert!(row("the whole report").contains(&format!("{} MiB", limits::MAX_BODY_BYTES >> 20)));
}
