//! `docs/report.schema.json` is the contract's, kept in step both ways:
//! - the committed file is what `contract::schema` makes from the contract's own limits
//!   (`SPARTAKUS_BLESS=1 cargo test --test integration schema::` rewrites it);
//! - every report the reporter writes is valid (random awkward nodes through the writer, the
//!   stand-in's nodes, the real binary's output);
//! - every valid report is one the collector keeps as it is (accepted, nothing cut), edge values
//!   included, and one step over any limit is invalid and refused or cut by the collector.
//!
//! The schema is checked with `support::schema`, a small checker of exactly the keywords the
//! schema uses, which refuses any other.

use crate::support;
use serde_json::{Value, json};
use spartakus::contract::limits::{
    MAX_AGE_DAYS, MAX_CAPACITY, MAX_CLUSTER_ID_CHARS, MAX_EXTENSION_NAME_CHARS, MAX_EXTENSIONS,
    MAX_NODES, MAX_STRING_CHARS, MAX_WORKLOAD_COUNT, WORKLOAD_BUCKETS,
};
use spartakus::contract::testing::Rng;
use spartakus::contract::{
    Extension, FORMAT_VERSION, Report, ReportWriter, build_node, node_id, parse, schema,
};
use std::path::Path;
use support::schema::Checker;

fn checker() -> Checker {
    Checker::new(&schema::report_schema())
}

#[test]
fn the_published_schema_is_the_contracts() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(schema::PATH);
    if std::env::var_os("SPARTAKUS_BLESS").is_some() {
        std::fs::write(&path, schema::published()).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == schema::published(),
        "{} differs from contract::schema (after changing the contract, run SPARTAKUS_BLESS=1 cargo test --test integration schema::)",
        schema::PATH
    );
    let parsed: Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(
        parsed["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
}

/// The checker catches each kind of violation it knows, and refuses keywords it does not.
#[test]
fn the_checker_applies_every_rule_of_the_schema() {
    let c = checker();
    let valid = json!({"version": "v1.0.0", "clusterID": "c", "nodes": [{"id": "0".repeat(32)}]});
    assert!(c.is_valid(&valid), "{:?}", c.errors(&valid));
    let broken = [
        ("version", json!(null), "not of type"),
        ("workloads", json!({"pods": {"total": -1}}), "below 0"),
        ("workloads", json!({"pods": {"total": 1.5}}), "not of type"),
        (
            "workloads",
            json!({"pods": {"total": 100_000_001}}),
            "above",
        ),
        (
            "workloads",
            json!({"jobs": {"total": 1, "age": {"count": 1}}}),
            "meanDays is required",
        ),
        ("clusterID", json!("a b"), "does not match"),
        ("clusterID", json!(""), "shorter than 1"),
        ("masterVersion", json!("x".repeat(257)), "longer than 256"),
        ("nodes", json!([{"osImage": "x"}]), "id is required"),
        ("nodes", json!([{"id": "0".repeat(31)}]), "does not match"),
        (
            "extensions",
            json!([{"name": "n", "value": 1}]),
            "not of type",
        ),
        (
            "extensions",
            json!(vec![json!({"name": "n", "value": "v"}); 101]),
            "more than 100 items",
        ),
    ];
    for (field, value, why) in broken {
        let mut report = valid.clone();
        report[field] = value;
        let errors = c.errors(&report).join("; ");
        assert!(errors.contains(why), "{field}: {errors}");
    }
    let mut missing = valid.clone();
    missing.as_object_mut().unwrap().remove("clusterID");
    assert!(!c.is_valid(&missing));
    let unknown = std::panic::catch_unwind(|| Checker::new(&json!({"uniqueItems": true})));
    assert!(unknown.is_err(), "a keyword without a rule is refused");
}

// ---------------------------------------------------------------------------------------------
// Every report the reporter writes is valid.

/// A report as the reporter writes it: random, awkward node facts and header values (long,
/// non-ASCII, control characters, hundreds of capacity entries) through the writer.
fn written(rng: &mut Rng) -> Vec<u8> {
    let cluster = format!("{:016x}-{:08x}", rng.next_u64(), rng.next_u64() as u32);
    let extensions = (0..rng.below(120))
        .map(|_| Extension {
            name: rng.text(400),
            value: rng.text(400),
        })
        .collect();
    let header = Report {
        version: FORMAT_VERSION.into(),
        timestamp: rng.text(300),
        cluster_id: cluster.clone(),
        master_version: Some(rng.text(300)),
        nodes: Vec::new(),
        extensions,
        workloads: None,
    };
    let mut writer = ReportWriter::start(Vec::new(), &header).unwrap();
    for _ in 0..rng.below(12) {
        let facts = rng.node_facts();
        let id = node_id(&cluster, facts.metadata.uid.as_deref().unwrap()).unwrap();
        writer.node(build_node(&facts, id)).unwrap();
    }
    writer.set_workloads(rng.workloads());
    writer.finish().unwrap()
}

fn assert_valid(c: &Checker, bytes: &[u8], what: &str) {
    let value: Value = serde_json::from_slice(bytes).unwrap();
    let errors = c.errors(&value);
    assert!(errors.is_empty(), "{what}: {errors:?}");
}

#[test]
fn every_report_the_reporter_writes_is_valid() {
    let c = checker();
    let mut rng = Rng(0x5eed_0f5c_4e3a);
    for i in 0..300 {
        assert_valid(&c, &written(&mut rng), &format!("random report {i}"));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Every stand-in node shape, as the golden test pins them; and the original Go reporter's.
    for fixture in ["golden-report.json", "original-volunteer.json"] {
        let bytes = std::fs::read(root.join("tests/fixtures").join(fixture)).unwrap();
        assert_valid(&c, &bytes, fixture);
    }
    // The real binary's output, from the stand-in API server.
    let api = support::apiserver::ApiServer::with_nodes(40);
    let dir = support::util::TempDir::new("schema");
    let kubeconfig = dir.join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, Some("spartakus"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spartakus"))
        .args([
            "report",
            "--dry-run",
            "--cluster-id",
            "6f1c2a9e-7d3b-4e5f-8a1b-2c3d4e5f6a7b",
        ])
        .env_clear()
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_valid(&c, &out.stdout, "spartakus report --dry-run");
}

// ---------------------------------------------------------------------------------------------
// Every valid report is kept as it is; one step over a limit is not.

/// Text of exactly `chars` characters, none of them a control, many of them not ASCII.
fn text_of(rng: &mut Rng, chars: usize) -> String {
    const CHARS: &[char] = &[
        'a',
        'é',
        '中',
        '\u{1F600}',
        '\u{A0}',
        '\u{2028}',
        '"',
        '\\',
        ' ',
    ];
    (0..chars).map(|_| *rng.pick(CHARS)).collect()
}

/// An optional value at its edges: absent, null, empty, short, or at its limit.
fn optional(rng: &mut Rng) -> Option<Value> {
    match rng.below(5) {
        0 => None,
        1 => Some(Value::Null),
        2 => Some(json!("")),
        3 => Some(json!(text_of(rng, 10))),
        _ => Some(json!(text_of(rng, MAX_STRING_CHARS))),
    }
}

fn node(rng: &mut Rng, index: usize) -> Value {
    let mut node = json!({"id": format!("{index:032x}")});
    for name in [
        "operatingSystem",
        "osImage",
        "kernelVersion",
        "architecture",
    ] {
        if let Some(value) = optional(rng) {
            node[name] = value;
        }
    }
    for name in ["containerRuntimeVersion", "kubeletVersion", "cloudProvider"] {
        if let Some(value) = optional(rng) {
            node[name] = value;
        }
    }
    node["capacity"] = match rng.below(4) {
        0 => Value::Null,
        1 => json!([]),
        n => {
            let count = if n == 2 { 3 } else { MAX_CAPACITY };
            let entry = |rng: &mut Rng| {
                let chars = rng.below(MAX_STRING_CHARS + 1);
                json!({"resource": text_of(rng, chars), "value": text_of(rng, MAX_STRING_CHARS)})
            };
            Value::Array((0..count).map(|_| entry(rng)).collect())
        }
    };
    if rng.below(3) == 0 {
        node["unknownField"] = json!({"nested": [1, null, "x"]});
    }
    node
}

/// A valid report with values at their edges: limits reached, nulls, empties, unknown fields.
fn edge_report(rng: &mut Rng) -> Value {
    let cluster: String = (0..=rng.below(MAX_CLUSTER_ID_CHARS - 1))
        .map(|_| *rng.pick(&['!', '~', 'a', '-', '0']))
        .collect();
    let chars = 1 + rng.below(MAX_STRING_CHARS);
    let mut report = json!({"version": text_of(rng, chars), "clusterID": cluster});
    for name in ["timestamp", "masterVersion"] {
        if let Some(value) = optional(rng) {
            report[name] = value;
        }
    }
    report["nodes"] = match rng.below(3) {
        0 => Value::Null,
        _ => Value::Array((0..rng.below(6)).map(|i| node(rng, i)).collect()),
    };
    let count = *rng.pick(&[0, 1, MAX_EXTENSIONS]);
    let extension = |rng: &mut Rng| json!({"name": text_of(rng, MAX_EXTENSION_NAME_CHARS), "value": text_of(rng, MAX_STRING_CHARS)});
    report["extensions"] = Value::Array((0..count).map(|_| extension(rng)).collect());
    if rng.below(2) == 0 {
        report["futureField"] = json!([{"deep": {"er": true}}]);
    }
    if let Some(workloads) = workloads(rng) {
        report["workloads"] = workloads;
    }
    report
}

/// A count at its edges.
fn count(rng: &mut Rng, max: u64) -> Value {
    json!(*rng.pick(&[0, 1, 7, max]))
}

/// The workload part at its edges: absent, null, kinds absent or null, every limit reached.
fn workloads(rng: &mut Rng) -> Option<Value> {
    const KINDS: [&str; 8] = [
        "namespaces",
        "pods",
        "services",
        "deployments",
        "statefulsets",
        "daemonsets",
        "jobs",
        "cronjobs",
    ];
    match rng.below(4) {
        0 => return None,
        1 => return Some(Value::Null),
        _ => {}
    }
    let mut part = json!({});
    for kind in KINDS {
        let stats = match rng.below(4) {
            0 => continue,
            1 => Value::Null,
            _ => {
                let mut stats = json!({"total": count(rng, MAX_WORKLOAD_COUNT)});
                let buckets = *rng.pick(&[0, 3, WORKLOAD_BUCKETS]);
                let histogram: Vec<Value> = (0..buckets)
                    .map(|_| json!(1 + rng.below(MAX_WORKLOAD_COUNT as usize)))
                    .collect();
                stats["perNamespace"] = Value::Array(histogram);
                if rng.below(2) == 0 {
                    stats["age"] = json!({
                        "count": 1 + rng.below(MAX_WORKLOAD_COUNT as usize),
                        "meanDays": count(rng, MAX_AGE_DAYS),
                        "medianDays": count(rng, MAX_AGE_DAYS),
                        "p90Days": count(rng, MAX_AGE_DAYS),
                    });
                }
                stats
            }
        };
        part[kind] = stats;
    }
    Some(part)
}

/// What the collector makes of a report: `Ok(clamped values)` or its refusal.
fn collector_verdict(report: &Value) -> Result<u64, String> {
    let bytes = serde_json::to_vec(report).unwrap();
    parse(&bytes)
        .map(|(_, clamps)| clamps.total())
        .map_err(|e| e.to_string())
}

#[test]
fn every_valid_report_is_kept_by_the_collector_as_it_is() {
    let c = checker();
    let mut rng = Rng(0x0dd_ba11);
    for i in 0..300 {
        let report = edge_report(&mut rng);
        assert!(c.is_valid(&report), "report {i}: {:?}", c.errors(&report));
        assert_eq!(
            collector_verdict(&report),
            Ok(0),
            "report {i} is valid, so kept as it is"
        );
    }
    let minimal = json!({"version": "v1.0.0", "clusterID": "c"});
    assert!(c.is_valid(&minimal));
    assert_eq!(collector_verdict(&minimal), Ok(0));
    let nodes: Vec<Value> = (0..MAX_NODES)
        .map(|i| json!({"id": format!("{i:032x}")}))
        .collect();
    let largest = json!({"version": "v1.0.0", "clusterID": "c", "nodes": nodes});
    assert!(c.is_valid(&largest));
    assert_eq!(collector_verdict(&largest), Ok(0));
}

/// One step over a limit, done to a valid report.
type Step = Box<dyn Fn(&mut Value)>;

/// A valid report with one of each part a limit applies to.
fn base_report() -> Value {
    json!({
        "version": "v1.0.0",
        "clusterID": "c",
        "nodes": [{"id": "0".repeat(32), "capacity": [{"resource": "cpu", "value": "4"}]}],
        "extensions": [{"name": "example.com/tier", "value": "gold"}],
        "workloads": {"pods": {"total": 3, "perNamespace": [1, 2], "age": {"count": 3, "meanDays": 1, "medianDays": 1, "p90Days": 2}}},
    })
}

/// A string of `n` two-byte characters.
fn long(n: usize) -> String {
    "é".repeat(n)
}

/// Steps over the limits of the report's own fields and of its node list.
fn over_the_reports_own_limits() -> Vec<(&'static str, Step)> {
    vec![
        ("version empty", Box::new(|r| r["version"] = json!(""))),
        (
            "version long",
            Box::new(|r| r["version"] = json!(long(MAX_STRING_CHARS + 1))),
        ),
        (
            "version control",
            Box::new(|r| r["version"] = json!("v1\n")),
        ),
        (
            "version missing",
            Box::new(|r| drop(r.as_object_mut().unwrap().remove("version"))),
        ),
        (
            "clusterID long",
            Box::new(|r| r["clusterID"] = json!("c".repeat(MAX_CLUSTER_ID_CHARS + 1))),
        ),
        (
            "clusterID space",
            Box::new(|r| r["clusterID"] = json!("a b")),
        ),
        (
            "clusterID not ASCII",
            Box::new(|r| r["clusterID"] = json!("é")),
        ),
        ("clusterID null", Box::new(|r| r["clusterID"] = Value::Null)),
        (
            "timestamp long",
            Box::new(|r| r["timestamp"] = json!(long(MAX_STRING_CHARS + 1))),
        ),
        (
            "masterVersion control",
            Box::new(|r| r["masterVersion"] = json!("v1.33\u{85}")),
        ),
        ("nodes an object", Box::new(|r| r["nodes"] = json!({}))),
        (
            "too many nodes",
            Box::new(|r| {
                r["nodes"] = Value::Array(
                    (0..=MAX_NODES)
                        .map(|i| json!({"id": format!("{i:032x}")}))
                        .collect(),
                )
            }),
        ),
    ]
}

/// Steps over the limits of a node's fields and its capacity.
fn over_a_nodes_limits() -> Vec<(&'static str, Step)> {
    vec![
        (
            "node id upper case",
            Box::new(|r| r["nodes"][0]["id"] = json!("A".repeat(32))),
        ),
        (
            "node id short",
            Box::new(|r| r["nodes"][0]["id"] = json!("0".repeat(31))),
        ),
        (
            "node without id",
            Box::new(|r| r["nodes"][0] = json!({"osImage": "x"})),
        ),
        (
            "osImage long",
            Box::new(|r| r["nodes"][0]["osImage"] = json!(long(MAX_STRING_CHARS + 1))),
        ),
        (
            "kernel control",
            Box::new(|r| r["nodes"][0]["kernelVersion"] = json!("6.1\u{1b}[31m")),
        ),
        (
            "osImage a number",
            Box::new(|r| r["nodes"][0]["osImage"] = json!(1)),
        ),
        (
            "capacity too many",
            Box::new(|r| {
                r["nodes"][0]["capacity"] = json!(vec![
                    json!({"resource": "r", "value": "1"});
                    MAX_CAPACITY + 1
                ])
            }),
        ),
        (
            "capacity value null",
            Box::new(|r| r["nodes"][0]["capacity"][0]["value"] = Value::Null),
        ),
        (
            "capacity resource long",
            Box::new(|r| {
                r["nodes"][0]["capacity"][0]["resource"] = json!(long(MAX_STRING_CHARS + 1))
            }),
        ),
    ]
}

/// Steps over the limits of the extensions.
fn over_the_extensions_limits() -> Vec<(&'static str, Step)> {
    vec![
        (
            "extensions too many",
            Box::new(|r| {
                r["extensions"] =
                    json!(vec![json!({"name": "n", "value": "v"}); MAX_EXTENSIONS + 1])
            }),
        ),
        (
            "extension name long",
            Box::new(|r| {
                r["extensions"][0]["name"] = json!("n".repeat(MAX_EXTENSION_NAME_CHARS + 1))
            }),
        ),
        (
            "extension value control",
            Box::new(|r| r["extensions"][0]["value"] = json!("a\u{0}b")),
        ),
        (
            "extension without value",
            Box::new(|r| r["extensions"][0] = json!({"name": "n"})),
        ),
    ]
}

/// Steps over the limits of the workload statistics.
fn over_the_workload_limits() -> Vec<(&'static str, Step)> {
    vec![
        (
            "workload total over",
            Box::new(|r| r["workloads"]["pods"]["total"] = json!(MAX_WORKLOAD_COUNT + 1)),
        ),
        (
            "workload total negative",
            Box::new(|r| r["workloads"]["pods"]["total"] = json!(-1)),
        ),
        (
            "workload total a fraction",
            Box::new(|r| r["workloads"]["pods"]["total"] = json!(1.5)),
        ),
        (
            "workload total missing",
            Box::new(|r| r["workloads"]["pods"] = json!({"perNamespace": [1]})),
        ),
        (
            "workload buckets too many",
            Box::new(|r| {
                r["workloads"]["pods"]["perNamespace"] = json!(vec![1; WORKLOAD_BUCKETS + 1])
            }),
        ),
        (
            "workload bucket over",
            Box::new(|r| r["workloads"]["pods"]["perNamespace"][0] = json!(MAX_WORKLOAD_COUNT + 1)),
        ),
        (
            "workload age over",
            Box::new(|r| r["workloads"]["pods"]["age"]["p90Days"] = json!(MAX_AGE_DAYS + 1)),
        ),
        (
            "workload age count over",
            Box::new(|r| r["workloads"]["pods"]["age"]["count"] = json!(MAX_WORKLOAD_COUNT + 1)),
        ),
        (
            "workload age incomplete",
            Box::new(|r| r["workloads"]["pods"]["age"] = json!({"count": 1})),
        ),
    ]
}

#[test]
fn one_step_over_any_limit_is_invalid_and_refused_or_cut() {
    let c = checker();
    let over = [
        over_the_reports_own_limits(),
        over_a_nodes_limits(),
        over_the_extensions_limits(),
        over_the_workload_limits(),
    ];
    for (what, step) in over.into_iter().flatten() {
        let mut report = base_report();
        assert!(c.is_valid(&report));
        step(&mut report);
        assert!(!c.is_valid(&report), "{what}: the schema accepts it");
        let verdict = collector_verdict(&report);
        assert!(
            !matches!(verdict, Ok(0)),
            "{what}: the schema refuses it, yet the collector keeps it as it is"
        );
    }
}
