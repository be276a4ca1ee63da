//! The stand-in's generated namespaces, pods and workloads: metadata-only lists paged with a
//! real `Accept` header, whole lists, how unevenly objects spread, planted identifying strings,
//! and memory that stays bounded while 300,000 pods are served.

use super::{Api, agent_with_timeout};
use crate::support::apiserver::{ApiServer, Config};
use crate::support::need;
use crate::support::objects::{Inventory, Layout, Resource};
use crate::support::util::{self, TempDir};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// What kube-rs and client-go send for a metadata-only list.
pub const METADATA: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
/// What kubectl sends for `get`.
const KUBECTL: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

/// Lists `path` with `limit` and `accept`, following continue tokens: the items, the number of
/// pages, and the list's kind and apiVersion (the same on every page).
fn list_pages(api: &Api, path: &str, limit: usize, accept: &str) -> (Vec<Value>, usize, String) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut token: Option<String> = None;
    let mut kind: Option<String> = None;
    loop {
        let query = match &token {
            None => format!("{path}?limit={limit}"),
            Some(t) => format!("{path}?limit={limit}&continue={t}"),
        };
        let (status, list, content_type) = api.get_accept(&query, accept);
        assert_eq!(status, 200, "{query}: {list}");
        let this = format!("{} {}", list["kind"], list["apiVersion"]);
        assert_eq!(kind.get_or_insert(this.clone()), &this, "{query}");
        if accept == METADATA {
            assert_eq!(content_type, METADATA);
        }
        let page = list["items"].as_array().unwrap();
        assert!(page.len() <= limit);
        items.extend(page.iter().cloned());
        pages += 1;
        match list["metadata"]["continue"].as_str() {
            Some(next) => {
                assert_eq!(page.len(), limit, "only full pages have a continue token");
                token = Some(next.to_string());
            }
            None => return (items, pages, kind.unwrap()),
        }
    }
}

#[test]
fn metadata_only_lists_page_with_a_real_accept_header() {
    let config = Config::default()
        .with_namespaces(120)
        .with_objects(Resource::Pods, 2_000);
    let server = ApiServer::start(config);
    let api = Api::new(&server);
    let layout = server.layout();
    for resource in Resource::ALL {
        let total = layout.len(resource);
        assert!(total > 0, "{resource:?}");
        let (items, pages, kind) = list_pages(&api, &resource.list_path(), 97, METADATA);
        assert_eq!(kind, "\"PartialObjectMetadataList\" \"meta.k8s.io/v1\"");
        assert_eq!(
            (items.len(), pages),
            (total, total.div_ceil(97)),
            "{resource:?}"
        );
        let mut uids = BTreeSet::new();
        for (g, item) in items.iter().enumerate() {
            assert_eq!(item["kind"], "PartialObjectMetadata", "{item}");
            assert_eq!(item["apiVersion"], "meta.k8s.io/v1");
            let keys: Vec<&String> = item.as_object().unwrap().keys().collect();
            assert_eq!(
                keys,
                ["apiVersion", "kind", "metadata"],
                "only metadata: {item}"
            );
            let meta = &item["metadata"];
            let want = layout.metadata(resource, g);
            assert_eq!(meta["name"], want.name.unwrap().as_str());
            for field in ["uid", "resourceVersion", "creationTimestamp"] {
                assert!(meta[field].is_string(), "{resource:?} {g} {field}: {meta}");
            }
            assert!(meta["labels"].is_object() && meta["managedFields"].is_array());
            let namespaced = resource != Resource::Namespaces;
            assert_eq!(meta["namespace"].is_string(), namespaced, "{meta}");
            uids.insert(meta["uid"].as_str().unwrap().to_string());
        }
        assert_eq!(uids.len(), total, "unique UIDs of {resource:?}");
    }
    // Pods of Deployments, StatefulSets, DaemonSets and Jobs name their owner, as real ones do.
    let (pods, _, _) = list_pages(&api, "/api/v1/pods", 500, METADATA);
    let owners: BTreeSet<&str> = pods
        .iter()
        .filter_map(|p| p["metadata"]["ownerReferences"][0]["kind"].as_str())
        .collect();
    assert_eq!(
        owners,
        BTreeSet::from(["DaemonSet", "Job", "ReplicaSet", "StatefulSet"])
    );
    let lists = server.requests_of("pods");
    assert!(lists.iter().all(|r| r.accept.as_deref() == Some(METADATA)));
}

#[test]
fn whole_lists_without_the_metadata_accept_and_406_for_what_cannot_be_served() {
    let server = ApiServer::start(Config::default());
    let api = Api::new(&server);
    let layout = server.layout();
    let cases = [
        (Resource::Pods, "PodList", "v1"),
        (Resource::Namespaces, "NamespaceList", "v1"),
        (Resource::Deployments, "DeploymentList", "apps/v1"),
        (Resource::CronJobs, "CronJobList", "batch/v1"),
    ];
    for (resource, kind, api_version) in cases {
        for accept in ["application/json", KUBECTL, "*/*"] {
            let (items, _, got) = list_pages(&api, &resource.list_path(), 50, accept);
            assert_eq!(got, format!("\"{kind}\" \"{api_version}\""));
            assert_eq!(items.len(), layout.len(resource));
            for item in &items {
                assert!(
                    item.get("kind").is_none(),
                    "list items carry no kind: {item}"
                );
                assert!(item["metadata"]["uid"].is_string());
                assert!(item.get("spec").is_some(), "whole objects: {item}");
            }
        }
    }
    // Protobuf or a Table alone cannot be served here: 406, as a server without them answers.
    for accept in [
        "application/vnd.kubernetes.protobuf",
        "application/json;as=Table;v=v1;g=meta.k8s.io",
    ] {
        let (status, body, _) = api.get_accept("/api/v1/pods", accept);
        assert_eq!(status, 406, "{accept}");
        super::assert_status(&body, 406, "NotAcceptable");
    }
    // One namespace by name, and one that does not exist.
    let name = layout.namespace(0).to_string();
    let (status, ns) = api.get(&format!("/api/v1/namespaces/{name}"));
    assert_eq!((status, ns["kind"].as_str()), (200, Some("Namespace")));
    assert_eq!(ns["status"]["phase"], "Active");
}

/// Pod counts per namespace of 10,000 namespaces and 300,000 pods, most first.
fn pods_per_namespace(layout: &Layout) -> Vec<usize> {
    let mut counts: Vec<usize> = (0..layout.len(Resource::Namespaces))
        .map(|k| layout.count_in(Resource::Pods, k))
        .collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    counts
}

#[test]
fn objects_spread_very_unevenly_over_namespaces_and_two_years() {
    let inventory = Inventory::default()
        .with(Resource::Namespaces, 10_000)
        .with(Resource::Pods, 300_000);
    let layout = Layout::new(&inventory);
    let counts = pods_per_namespace(&layout);
    assert_eq!(counts.iter().sum::<usize>(), 300_000);
    let top3: usize = counts[..3].iter().sum();
    let empty = counts.iter().filter(|c| **c == 0).count();
    let small = counts.iter().filter(|c| (1..=20).contains(*c)).count();
    eprintln!(
        "pods per namespace: top {:?}, top 3 hold {top3}, {empty} empty, {small} with 1-20",
        &counts[..5]
    );
    assert!(top3 > 300_000 / 4, "a few huge namespaces: {top3}");
    assert!(empty > 3_000, "many empty namespaces: {empty}");
    assert!(small > 2_000, "many small namespaces: {small}");
    // Creation times: over about two years, never before the namespace.
    let seconds = |t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
        t.as_ref().unwrap().0.as_second()
    };
    let mut times = Vec::new();
    for g in (0..300_000).step_by(997) {
        let pod = layout.metadata(Resource::Pods, g);
        let k = layout.locate(Resource::Pods, g).0;
        let ns = layout.metadata(Resource::Namespaces, k);
        assert_eq!(pod.namespace.as_deref(), Some(layout.namespace(k)));
        assert!(seconds(&pod.creation_timestamp) >= seconds(&ns.creation_timestamp));
        times.push(seconds(&pod.creation_timestamp));
    }
    let span_days = (times.iter().max().unwrap() - times.iter().min().unwrap()) / 86_400;
    assert!((550..=730).contains(&span_days), "{span_days} days");
    // The same inventory gives the same objects.
    let again = Layout::new(&inventory);
    for g in [0, 1, 4_242, 299_999] {
        assert_eq!(
            again.metadata(Resource::Pods, g),
            layout.metadata(Resource::Pods, g)
        );
    }
    // Namespaces are in name order, as a real server lists them.
    let names: Vec<&str> = (0..10_000).map(|k| layout.namespace(k)).collect();
    assert!(names.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn identifying_strings_are_planted_in_object_metadata() {
    let layout = Layout::new(&Inventory::default());
    for resource in Resource::ALL {
        let mut with_company_names = 0;
        for g in 0..layout.len(resource) {
            let json = serde_json::to_string(&layout.metadata(resource, g)).unwrap();
            let planted = layout.identifying_strings(resource, g);
            assert!(!planted.is_empty(), "{resource:?} {g}: the UID at least");
            for secret in &planted {
                assert!(
                    secret.len() >= 8,
                    "{secret:?} is too short to be distinctive"
                );
                let escaped = serde_json::to_string(secret).unwrap();
                let bare = &escaped[1..escaped.len() - 1];
                assert!(
                    json.contains(bare),
                    "{resource:?} {g}: {secret:?} not planted in {json}"
                );
            }
            with_company_names += usize::from(planted.iter().any(|s| s.contains("acme")));
        }
        assert!(
            with_company_names * 2 > layout.len(resource),
            "{resource:?}"
        );
    }
}

/// `VmHWM` (peak resident memory) of process `pid`, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The newest modification time of a file under `path`.
fn newest(path: &Path) -> SystemTime {
    let meta = std::fs::metadata(path).unwrap();
    if !meta.is_dir() {
        return meta.modified().unwrap();
    }
    let entries = std::fs::read_dir(path).unwrap();
    entries
        .map(|e| newest(&e.unwrap().path()))
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// The stand-in example: the release build when it is newer than its sources (bench/run builds
/// it; generating 300,000 pods takes a debug build half a minute), else the debug build that
/// `cargo test` makes. `None` if neither is there.
fn standin_binary() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::current_exe()
        .ok()?
        .parent()?
        .parent()?
        .parent()?
        .to_path_buf();
    let sources = newest(&root.join("tests/support")).max(newest(&root.join("examples")));
    let release = target.join("release/examples/stand_in_apiserver");
    let fresh = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= sources)
    };
    if fresh(&release) {
        return Some(release);
    }
    Some(target.join("debug/examples/stand_in_apiserver")).filter(|p| p.is_file())
}

/// Starts the stand-in example with 10,000 namespaces and 300,000 pods: the process, its
/// standard output after the `ready` line, its URL and its CA certificate.
fn start_standin(standin: &Path, dir: &TempDir) -> (Child, BufReader<ChildStdout>, String, String) {
    let kubeconfig = dir.join("kubeconfig");
    let mut child = Command::new(standin)
        .args([
            "--namespaces",
            "10000",
            "--pods",
            "300000",
            "--token",
            "t0k3n-300k",
        ])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    out.read_line(&mut ready).unwrap();
    let url = ready
        .split_whitespace()
        .nth(1)
        .expect("ready <url>")
        .to_string();
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    let ca = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate-authority-data: "));
    let ca = String::from_utf8(util::base64_decode(ca.unwrap()).unwrap()).unwrap();
    (child, out, url, ca)
}

/// The stand-in on its own (the example), serving 10,000 namespaces and 300,000 pods: every pod
/// listed once, metadata-only, while its memory stays far below what holding them would take
/// (about 400 MB of JSON).
#[test]
#[ignore = "scale: run by CI, and by cargo test -- --include-ignored"]
fn serving_300000_pods_keeps_the_stand_in_small() {
    let Some(standin) = standin_binary() else {
        need::missing(
            "the stand_in_apiserver example's build",
            "cargo build --examples (plain `cargo test` builds it)",
        );
        return;
    };
    let dir = TempDir::new("300k");
    let (mut child, mut out, url, ca) = start_standin(&standin, &dir);
    let baseline = peak_rss_kib(child.id());
    // A debug build of the stand-in takes about a second a page, more on a busy machine.
    let client = agent_with_timeout(Some(&ca), Duration::from_secs(600));
    let started = Instant::now();
    let (mut listed, mut pages, mut token) = (0, 0, String::new());
    loop {
        let mut resp = client
            .get(format!("{url}/api/v1/pods?limit=10000&continue={token}"))
            .header("Authorization", "Bearer t0k3n-300k")
            .header("Accept", METADATA)
            .call()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let body = resp
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_string()
            .unwrap();
        listed += body.matches("{\"kind\":\"PartialObjectMetadata\",").count();
        pages += 1;
        let head: Value =
            serde_json::from_str(&(body[..body.find(",\"items\"").unwrap()].to_string() + "}"))
                .unwrap();
        match head["metadata"]["continue"].as_str() {
            Some(next) => token = next.to_string(),
            None => break,
        }
    }
    let peak = peak_rss_kib(child.id());
    eprintln!(
        "300,000 pods in {pages} pages, {:.1?} ({}); stand-in peak RSS {} MiB (before listing {} MiB)",
        started.elapsed(),
        standin.display(),
        peak / 1024,
        baseline / 1024
    );
    assert_eq!((listed, pages), (300_000, 30));
    assert!(
        peak < baseline + 120 * 1024,
        "peak RSS {peak} KiB from {baseline} KiB"
    );
    drop(child.stdin.take());
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(rest.contains("pods=30"), "{rest}");
}
