//! Privacy: nodes shaped like those of EKS, GKE, AKS, kind, k3s, OpenShift, Windows and bare
//! metal, with identifying strings planted in names, IPs, provider IDs, labels, annotations,
//! images, machine and system IDs, go through the real report path (the streaming list scanner,
//! decoding the few fields, building, writing out). None of the planted strings may appear anywhere in the serialized report.
//! Namespaces, pods, services and workloads with the company's names planted in their metadata
//! go through the real binary with `--workload-stats`: none reaches the report, the wire or the
//! log.

use crate::support;
use spartakus::contract::anonymize::UNKNOWN_PROVIDER;
use spartakus::contract::{
    FORMAT_VERSION, NodeFacts, ObjectKind, Report, ReportWriter, build_node, node_id,
};
use spartakus::reporter::nodelist::{ListScanner, Piece};
use support::apiserver::{ApiServer, Config};
use support::collector::Collector;
use support::nodes::{self, SHAPES, Shape};
use support::objects::Resource;
use support::util::TempDir;

const CLUSTER_ID: &str = "5d0f3c2a-9b1e-4c7d-8e6f-0a1b2c3d4e5f";

fn report_of(indices: impl Iterator<Item = usize>) -> String {
    let header = Report {
        version: FORMAT_VERSION.into(),
        timestamp: "1764201600".into(),
        cluster_id: CLUSTER_ID.into(),
        master_version: Some("v1.33.2".into()),
        ..Report::default()
    };
    // A NodeList as the API server sends it, fed to the scanner in chunks as they arrive.
    let mut body = String::from(
        r#"{"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":["#,
    );
    for (k, i) in indices.enumerate() {
        if k > 0 {
            body.push(',');
        }
        nodes::write_list_item(&mut body, i);
    }
    body.push_str("]}");
    let mut writer = ReportWriter::start(Vec::new(), &header).unwrap();
    let mut scanner = ListScanner::new();
    let mut emit = |piece: Piece<'_>| -> anyhow::Result<()> {
        if let Piece::Item(bytes) = piece {
            let facts: NodeFacts = serde_json::from_slice(bytes)?;
            let uid = facts.metadata.uid.clone().unwrap();
            writer.node(build_node(&facts, node_id(CLUSTER_ID, &uid).unwrap()))?;
        }
        Ok(())
    };
    for chunk in body.as_bytes().chunks(4093) {
        scanner.feed(chunk, &mut emit).unwrap();
    }
    scanner.finish(&mut emit).unwrap();
    String::from_utf8(writer.finish().unwrap()).unwrap()
}

#[test]
fn no_planted_identifier_reaches_the_report() {
    let count = SHAPES.len() * 6;
    let text = report_of(0..count);
    let lower = text.to_ascii_lowercase();
    let mut checked = 0;
    for i in 0..count {
        let planted = nodes::identifying_strings(i);
        assert!(
            planted.len() > 40,
            "node {i}: too few planted strings to mean anything"
        );
        for secret in planted {
            assert!(
                !lower.contains(&secret.to_ascii_lowercase()),
                "node {i} ({:?}): {secret:?} leaked into the report",
                nodes::shape(i)
            );
            checked += 1;
        }
    }
    // Generic giveaways too: no company name, no private address prefix of the generator.
    for word in [
        "acme",
        "ip-10-",
        ".internal",
        "sha256:",
        "kubernetes.io/hostname",
    ] {
        assert!(!lower.contains(word), "{word:?} leaked");
    }
    assert!(checked > 1000);

    // The test is not vacuous: what a report should carry is there.
    let report: Report = serde_json::from_str(&text).unwrap();
    assert_eq!(report.nodes.len(), count);
    for (i, node) in report.nodes.iter().enumerate() {
        let node_text = serde_json::to_string(node).unwrap();
        let values = nodes::report_values(i);
        for (k, value) in values.iter().enumerate() {
            // The company resource and its quantity are folded into `other`.
            if value == nodes::COMPANY_RESOURCE
                || (k > 0 && values[k - 1] == nodes::COMPANY_RESOURCE)
            {
                continue;
            }
            let quoted = serde_json::to_string(&value).unwrap();
            assert!(
                node_text.contains(&quoted),
                "node {i}: expected {quoted} in {node_text}"
            );
        }
    }
}

#[test]
fn providers_and_company_resources_per_shape() {
    let text = report_of(0..SHAPES.len() * 4);
    let report: Report = serde_json::from_str(&text).unwrap();
    let mut saw_other = false;
    for (i, node) in report.nodes.iter().enumerate() {
        let provider = node.cloud_provider.as_deref().unwrap();
        let expected: &[&str] = match nodes::shape(i) {
            Shape::Eks => &["aws"],
            Shape::Gke => &["gce"],
            Shape::Aks => &["azure"],
            Shape::Kind => &["kind"],
            Shape::K3s => &["k3s"],
            Shape::OpenShift => &["aws", "openstack", "gce", "azure", "vsphere"],
            Shape::Windows => &["azure", "aws", "gce"],
            Shape::BareMetal => &[UNKNOWN_PROVIDER],
        };
        assert!(
            expected.contains(&provider),
            "node {i} {:?}: {provider}",
            nodes::shape(i)
        );
        assert_eq!(node.id.len(), 32);
        let names: Vec<&str> = node.capacity.iter().map(|r| r.resource.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "capacity of node {i} is sorted");
        saw_other |= names.contains(&"other");
    }
    assert!(
        saw_other,
        "some nodes carry a company resource, reported as `other`"
    );
}

#[test]
fn node_id_depends_on_uid_not_name() {
    let original = nodes::node_json(0);
    let name = nodes::node_name(0);
    let uid = nodes::node_uid(0);
    let id_of = |json: &str| {
        let facts: NodeFacts = serde_json::from_str(json).unwrap();
        build_node(
            &facts,
            node_id(CLUSTER_ID, facts.metadata.uid.as_deref().unwrap()).unwrap(),
        )
        .id
    };
    let base = id_of(&original);
    // A guessable name changed: same ID (the name is not an input).
    let renamed = original.replace(&name, "ip-10-0-0-1.ec2.internal");
    assert_eq!(id_of(&renamed), base);
    // Same name, another UID: another ID.
    let other_uid = original.replace(&uid, "00000000-0000-4000-8000-000000000001");
    assert_ne!(id_of(&other_uid), base);
    // The ID is not a plain hash of the name or the UID.
    use sha2::{Digest, Sha256};
    for input in [&name, &uid] {
        let plain = hex::encode(&Sha256::digest(input.as_bytes())[..16]);
        assert_ne!(plain, base);
    }
}

/// Runs the real binary against `api` with a fresh kubeconfig and nothing of this machine's
/// environment: (exit code, stdout, stderr).
fn run_spartakus(api: &ApiServer, args: &[&str]) -> (i32, String, String) {
    let home = TempDir::new("privacy");
    let kubeconfig = home.join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, Some("spartakus"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spartakus"))
        .args(args)
        .env_clear()
        .env("HOME", home.path())
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// The workload statistics through the real binary: the stand-in plants the company's names in
/// the names, namespaces, labels, annotations and owner references of every namespace, pod,
/// service and workload, and gives each a UID. None of them reaches the report (the preview),
/// what is sent (the collector's body, decompressed), or the log; neither does the word `acme`.
#[test]
fn no_planted_identifier_of_any_object_reaches_the_report_the_wire_or_the_log() {
    let api = ApiServer::start(Config::default().with_nodes(3));
    let layout = api.layout();
    let collector = Collector::new();
    let url = collector.url();
    let base = ["report", "--cluster-id", CLUSTER_ID, "--workload-stats"];
    let (code, preview, preview_log) = run_spartakus(&api, &[&base[..], &["--dry-run"]].concat());
    assert_eq!(code, 0, "{preview_log}");
    let (code, _, log) = run_spartakus(&api, &[&base[..], &["--endpoint", &url]].concat());
    assert_eq!(code, 0, "{log}");
    let sent = collector.requests()[0].text();
    let places = [
        ("the report", preview.to_ascii_lowercase()),
        ("the wire", sent.to_ascii_lowercase()),
        (
            "the log",
            format!("{preview_log}{log}").to_ascii_lowercase(),
        ),
    ];
    let mut checked = 0;
    for resource in Resource::ALL {
        for g in 0..layout.len(resource) {
            for secret in layout.identifying_strings(resource, g) {
                let secret = secret.to_ascii_lowercase();
                for (place, text) in &places {
                    assert!(
                        !text.contains(&secret),
                        "{resource:?} {g}: {secret:?} reached {place}"
                    );
                }
                checked += 1;
            }
        }
    }
    for (place, text) in &places {
        assert!(!text.contains("acme"), "the company's name reached {place}");
    }
    assert!(checked > 2_000, "{checked}");

    // Not vacuous: the statistics were sent, counting every object.
    let report: Report = serde_json::from_str(&sent).unwrap();
    let workloads = report.workloads.expect("a workload part");
    for resource in Resource::ALL {
        let kind = ObjectKind::ALL
            .into_iter()
            .find(|k| k.name() == resource.plural());
        let stats = workloads.get(kind.unwrap()).unwrap();
        assert_eq!(stats.total, layout.len(resource) as u64, "{resource:?}");
    }
}
