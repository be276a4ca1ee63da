//! README's examples of `spartakus summary` are what the binary prints for the fleet they
//! describe: six clusters reporting daily for three weeks (two of them upgrading Kubernetes,
//! some nodes' kubelets behind), read at a fixed time through faketime. Each `$ spartakus
//! summary --store fleet.db ...` line of a `console` block of README.md is run, and what follows
//! it (up to the next `$` or the end of the block; a last line `...` shows the output's start
//! only, `| head -N` its first N lines) must be what it prints.
//! `SPARTAKUS_BLESS=1 cargo test --test integration docs::examples` rewrites the examples.

use crate::support::collect::{BIN, TempDir, store_reports};
use crate::support::need;
use spartakus::collector::store::Spec;
use spartakus::contract::{Node, Report, Resource};
use std::path::Path;
use std::process::Command;

/// When the examples are read: Friday 2026-11-27, 08:40 UTC.
const NOW: &str = "2026-11-27 08:40:00";
const DAY: i64 = 86_400;

fn now() -> i64 {
    spartakus::time::days_from_civil(2026, 11, 27) * DAY + 8 * 3600 + 40 * 60
}

/// A cluster of the fleet: ID, nodes, OS image, architecture of all but `arm` nodes, runtime,
/// provider, and its Kubernetes version (and that of the kubelets behind it, on `behind`
/// nodes) `days` ago.
struct Cluster {
    id: &'static str,
    nodes: usize,
    image: &'static str,
    arm: usize,
    runtime: &'static str,
    provider: Option<&'static str>,
    gpus: usize,
    versions: fn(i64) -> (&'static str, &'static str, usize),
}

const FLEET: [Cluster; 6] = [
    Cluster {
        id: "a854c834-e48e-4b74-ac8b-98b8e10c167d",
        nodes: 6,
        image: "Talos (v1.10.3)",
        arm: 0,
        runtime: "containerd://2.0.5",
        provider: None,
        gpus: 0,
        versions: |_| ("v1.33.2", "v1.33.2", 0),
    },
    Cluster {
        id: "79823eb2-4767-480b-aa7f-3f8833736dcc",
        nodes: 150,
        image: "Ubuntu 22.04.5 LTS",
        arm: 0,
        runtime: "containerd://1.7.27",
        provider: Some("azure"),
        gpus: 0,
        // The control plane upgraded 9 days ago; 30 kubelets not yet.
        versions: |days| match days {
            0..=8 => ("v1.31.9", "v1.30.12", 30),
            _ => ("v1.30.12", "v1.30.12", 0),
        },
    },
    Cluster {
        id: "66237a04-6e5b-4a86-9d10-5e8a4cf1e8a2",
        nodes: 1,
        image: "Debian GNU/Linux 12 (bookworm)",
        arm: 0,
        runtime: "containerd://1.7.27",
        provider: Some("kind"),
        gpus: 0,
        versions: |_| ("v1.32.5", "v1.32.5", 0),
    },
    Cluster {
        id: "e647cb8f-def8-4c7a-af3a-ae3adfe01893",
        nodes: 12,
        image: "Container-Optimized OS from Google",
        arm: 0,
        runtime: "containerd://1.7.27",
        provider: Some("gce"),
        gpus: 0,
        versions: |_| ("v1.32.5", "v1.31.9", 4),
    },
    Cluster {
        id: "72fdf202-66d2-48ca-a472-230de2257159",
        nodes: 40,
        image: "Amazon Linux 2023.7.20250414",
        arm: 0,
        runtime: "containerd://1.7.27",
        provider: Some("aws"),
        gpus: 8,
        // Its GPU nodes' kubelets stayed three minors behind.
        versions: |_| ("v1.33.2", "v1.30.12", 8),
    },
    Cluster {
        id: "0ed90475-e8e2-481e-a36f-1600099950d8",
        nodes: 3,
        image: "Ubuntu 24.04.2 LTS",
        arm: 3,
        runtime: "containerd://2.0.5",
        provider: Some("aws"),
        gpus: 0,
        // Upgraded 4 days ago, kubelets with it.
        versions: |days| match days {
            0..=3 => ("v1.33.2", "v1.33.2", 0),
            _ => ("v1.32.5", "v1.32.5", 0),
        },
    },
];

/// Cluster `c`'s report `days` before [`now`], received a few minutes past 08:00.
fn report(c: &Cluster, index: usize, days: i64) -> (Report, i64) {
    let at = now() - days * DAY - 40 * 60 + index as i64 * 60;
    let (master, behind_version, behind) = (c.versions)(days);
    let nodes = (0..c.nodes)
        .map(|i| Node {
            id: format!("{:032x}", index * 1000 + i + 1),
            operating_system: Some("linux".into()),
            os_image: Some(c.image.into()),
            kernel_version: Some("6.8.0".into()),
            architecture: Some(if i < c.arm { "arm64" } else { "amd64" }.into()),
            container_runtime_version: Some(c.runtime.into()),
            kubelet_version: Some(if i < behind { behind_version } else { master }.into()),
            cloud_provider: c.provider.map(String::from),
            capacity: (i < c.gpus)
                .then(|| Resource {
                    resource: "nvidia.com/gpu".into(),
                    value: "8".into(),
                })
                .into_iter()
                .collect(),
        })
        .collect();
    let report = Report {
        version: "v1.0.0".into(),
        timestamp: at.to_string(),
        cluster_id: c.id.into(),
        master_version: Some(master.into()),
        nodes,
        extensions: Vec::new(),
        workloads: None,
    };
    (report, at)
}

/// The fleet's three weeks of daily reports, stored at `path`.
fn fleet(path: &Path) {
    let reports = (0..21)
        .rev()
        .flat_map(|days| {
            FLEET
                .iter()
                .enumerate()
                .map(move |(i, c)| report(c, i, days))
        })
        .collect();
    store_reports(&Spec::Sqlite(path.to_path_buf()), reports);
}

/// An example of README.md: the command after `$ `, the lines shown, where they are (the
/// range of README's lines), and whether they are the start of the output only.
struct Example {
    command: String,
    shown: Vec<String>,
    lines: std::ops::Range<usize>,
    start_only: bool,
}

/// Every `$ spartakus summary --store fleet.db` example of README's `console` blocks.
fn examples(readme: &str) -> Vec<Example> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut out = Vec::new();
    let mut in_console = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with("```") {
            in_console = line == "```console";
            i += 1;
            continue;
        }
        let Some(command) = line.strip_prefix("$ spartakus summary --store fleet.db") else {
            i += 1;
            continue;
        };
        if !in_console {
            i += 1;
            continue;
        }
        let from = i + 1;
        let mut to = from;
        while to < lines.len() && !lines[to].starts_with("$ ") && !lines[to].starts_with("```") {
            to += 1;
        }
        let start_only = to > from && lines[to - 1] == "...";
        let end = if start_only { to - 1 } else { to };
        out.push(Example {
            command: format!("summary --store fleet.db{command}"),
            shown: lines[from..end].iter().map(|l| l.to_string()).collect(),
            lines: from..end,
            start_only,
        });
        i = to;
    }
    out
}

/// What the binary prints for an example's command, read at [`NOW`].
fn run(command: &str, store: &Path) -> Vec<String> {
    let (command, head) = match command.split_once(" | head -") {
        Some((command, n)) => (command, n.parse::<usize>().ok()),
        None => (command, None),
    };
    let args: Vec<&str> = command
        .split_whitespace()
        .map(|a| {
            if a == "fleet.db" {
                store.to_str().unwrap()
            } else {
                a
            }
        })
        .collect();
    let out = Command::new("faketime")
        .arg(NOW)
        .arg(BIN)
        .args(&args)
        .env_clear()
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines = text.lines().map(String::from);
    lines.take(head.unwrap_or(usize::MAX)).collect()
}

#[test]
fn the_readmes_summary_examples_are_what_the_binary_prints() {
    if !need::faketime() {
        return;
    }
    let dir = TempDir::new("docs-examples");
    let store = dir.join("fleet.db");
    fleet(&store);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let examples = examples(&readme);
    assert!(examples.len() >= 3, "README's summary examples are gone");
    let mut lines: Vec<String> = readme.lines().map(String::from).collect();
    let bless = std::env::var_os("SPARTAKUS_BLESS").is_some();
    // From the last, so that a rewritten example does not move those before it.
    for example in examples.iter().rev() {
        let mut printed = run(&example.command, &store);
        if example.start_only {
            printed.truncate(example.shown.len());
        }
        if bless {
            lines.splice(example.lines.clone(), printed);
            continue;
        }
        assert_eq!(
            example.shown, printed,
            "README.md's `{}` (SPARTAKUS_BLESS=1 cargo test --test integration docs::examples \
             rewrites it)",
            example.command
        );
    }
    if bless {
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
    }
}

/// README's line on what `backup` prints names the schema version the binary writes.
#[test]
fn the_readmes_backup_line_names_the_schema_version() {
    let dir = TempDir::new("docs-backup");
    let store = dir.join("fleet.db");
    fleet(&store);
    let out = Command::new(BIN)
        .args(["backup", "--store", store.to_str().unwrap(), "--to"])
        .arg(dir.join("copy.db"))
        .env_clear()
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    let version = said
        .split("schema version ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no schema version in {said:?}"));
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
    let wanted = format!("report(s), schema version {version}`");
    assert!(
        readme.unwrap().contains(&wanted),
        "README.md's backup line should say {wanted:?}; backup printed {said:?}"
    );
}
