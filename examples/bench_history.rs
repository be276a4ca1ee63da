//! The history benchmark's tool, not a user command: fills a store with a realistic fleet's daily
//! reports through the store's own write path (`Sink::store_batch`, as the collector's writer
//! calls it: batches of up to 256 reports, the duplicate window and the rate limit on), and
//! measures what reads the rollups. `bench/history` runs it, with the binary's own commands.
//!
//! ```text
//! cargo run --release --example bench_history -- fill --store /tmp/h.db --clusters 10000 --days 100
//! cargo run --release --example bench_history -- measure --store /tmp/h.db
//! ```
//!
//! The fleet: clusters of 1 to 300 nodes (most small), on eight providers with their usual OS
//! images, a fifth with arm64 pools, one in twenty with GPU nodes; each reports once a day at its
//! own time; autoscaled clusters change their node count every day; each upgrades Kubernetes
//! once or twice in the period; one in five sends workload statistics.

use anyhow::Result;
use argh::FromArgs;
use sha2::Digest;
use spartakus::collector::fleet::trends::{self, Every};
use spartakus::collector::guard::limit::Gcra;
use spartakus::collector::store::read::Scope;
use spartakus::collector::store::{Incoming, Reader, Rules, Sink, Spec, read};
use spartakus::collector::views::dashboard::page::{TOP, View, page};
use spartakus::collector::views::summary;
use spartakus::contract::testing::{self, Rng};
use spartakus::contract::{FORMAT_VERSION, Node, Report, Resource};
use std::time::{Duration, Instant};

const DAY: i64 = 86_400;

/// Fill a store with a fleet's daily reports, or measure the reads of one.
#[derive(FromArgs)]
struct Args {
    #[argh(subcommand)]
    command: Command,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Fill(Fill),
    Measure(Measure),
}

/// Store `clusters` clusters' daily reports for `days` days, ending today.
#[derive(FromArgs)]
#[argh(subcommand, name = "fill")]
struct Fill {
    /// the store (SQLite path or postgres://...)
    #[argh(option)]
    store: String,
    /// clusters (default 10000)
    #[argh(option, default = "10_000")]
    clusters: usize,
    /// days of reports (default 100)
    #[argh(option, default = "100")]
    days: i64,
}

/// Time the dashboard's queries, a 180-day weekly trend and the summary.
#[derive(FromArgs)]
#[argh(subcommand, name = "measure")]
struct Measure {
    /// the store
    #[argh(option)]
    store: String,
    /// runs of each (default 5)
    #[argh(option, default = "5")]
    runs: usize,
}

fn main() -> Result<()> {
    let args: Args = argh::from_env();
    match args.command {
        Command::Fill(f) => fill(&f),
        Command::Measure(m) => measure(&m),
    }
}

/// A node pool of a cluster.
struct Pool {
    nodes: usize,
    arch: &'static str,
    image: String,
    kernel: &'static str,
    runtime: &'static str,
    gpu: bool,
}

/// A cluster, as it stays from day to day.
struct Cluster {
    id: String,
    provider: &'static str,
    pools: Vec<Pool>,
    minor: u32,
    /// Days on which it upgrades a minor version.
    upgrades: [i64; 2],
    autoscaled: bool,
    workloads: bool,
    /// Seconds after midnight when it reports.
    offset: i64,
}

const KERNELS: [&str; 3] = [
    "6.1.141-155.222.amzn2023",
    "6.8.0-1021-aws",
    "5.15.0-1079-azure",
];
const RUNTIMES: [&str; 4] = [
    "containerd://1.7.27",
    "containerd://1.7.24",
    "containerd://2.0.5",
    "cri-o://1.32.4",
];

fn cluster(rng: &mut Rng, i: usize, days: i64) -> Cluster {
    const PROVIDERS: [(&str, &[&str]); 8] = [
        (
            "aws",
            &[
                "Amazon Linux 2023.7.20250623",
                "Bottlerocket OS 1.39.1 (aws-k8s-1.32)",
            ],
        ),
        (
            "gce",
            &["Container-Optimized OS from Google", "Ubuntu 22.04.5 LTS"],
        ),
        (
            "azure",
            &[
                "Ubuntu 22.04.5 LTS",
                "AKSUbuntu-2204gen2containerd-202506.10.0",
            ],
        ),
        (
            "unknown",
            &["Ubuntu 24.04.2 LTS", "Rocky Linux 9.5 (Blue Onyx)"],
        ),
        ("kind", &["Debian GNU/Linux 12 (bookworm)"]),
        ("k3s", &["Ubuntu 24.04.2 LTS", "openSUSE Leap Micro 6.1"]),
        (
            "openstack",
            &["Flatcar Container Linux by Kinvolk 4152.2.3 (Oklo)"],
        ),
        (
            "vsphere",
            &[
                "Talos (v1.10.3)",
                "Red Hat Enterprise Linux CoreOS 418.94.202410090804-0",
            ],
        ),
    ];
    const WEIGHTS: [usize; 8] = [34, 20, 18, 12, 5, 5, 3, 3];
    let mut pick = rng.below(100);
    let p = WEIGHTS
        .iter()
        .position(|w| {
            let hit = pick < *w;
            pick = pick.saturating_sub(*w);
            hit
        })
        .unwrap_or(0);
    let (provider, images) = PROVIDERS[p];
    // 45% 1-3 nodes, 30% 4-10, 18% 11-30, 6% 31-100, 1% 101-300.
    let size = match rng.below(100) {
        0..45 => 1 + rng.below(3),
        45..75 => 4 + rng.below(7),
        75..93 => 11 + rng.below(20),
        93..99 => 31 + rng.below(70),
        _ => 101 + rng.below(200),
    };
    let mut pools = Vec::new();
    let arm = rng.below(5) == 0;
    let gpu = size > 3 && rng.below(20) == 0;
    let mut left = size;
    for (n, pool) in [(0, "main"), (1, "arm"), (2, "gpu")] {
        let share = match n {
            0 => left - if arm { left / 3 } else { 0 } - if gpu { left / 4 } else { 0 },
            1 if arm => left.min(size / 3).max(1),
            2 if gpu => left.max(1),
            _ => 0,
        };
        if share == 0 || left == 0 {
            continue;
        }
        left -= share.min(left);
        pools.push(Pool {
            nodes: share,
            arch: if pool == "arm" { "arm64" } else { "amd64" },
            image: rng.pick(images).to_string(),
            kernel: KERNELS[rng.below(KERNELS.len())],
            runtime: RUNTIMES[rng.below(RUNTIMES.len())],
            gpu: pool == "gpu",
        });
    }
    Cluster {
        id: testing_uuid(rng, i),
        provider,
        pools,
        minor: 29 + rng.below(4) as u32,
        upgrades: [
            rng.below(days as usize * 2) as i64,
            days + rng.below(days as usize) as i64,
        ],
        autoscaled: size > 10 && rng.below(2) == 0,
        workloads: rng.below(5) == 0,
        offset: rng.below(DAY as usize) as i64,
    }
}

fn testing_uuid(rng: &mut Rng, i: usize) -> String {
    let (a, b) = (rng.next_u64(), rng.next_u64() ^ i as u64);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// The cluster's report of `day` (0 = the first).
fn report(c: &Cluster, rng: &mut Rng, day: i64, at: i64) -> Report {
    let minor = c.minor + c.upgrades.iter().filter(|u| day >= **u).count() as u32;
    let mut nodes = Vec::new();
    for (p, pool) in c.pools.iter().enumerate() {
        let mut n = pool.nodes;
        if c.autoscaled && p == 0 {
            n = (n * (80 + rng.below(41)) / 100).max(1);
        }
        for i in 0..n {
            let mut capacity = vec![
                res("cpu", if pool.gpu { "48" } else { "8" }),
                res("ephemeral-storage", "83873772Ki"),
                res("memory", "32386544Ki"),
                res("pods", "110"),
            ];
            if pool.gpu {
                capacity.push(res("nvidia.com/gpu", "4"));
            }
            nodes.push(Node {
                id: format!("{:016x}{:08x}{:08x}", fnv(&c.id), p, i),
                operating_system: Some("linux".into()),
                os_image: Some(pool.image.clone()),
                kernel_version: Some(pool.kernel.into()),
                architecture: Some(pool.arch.into()),
                container_runtime_version: Some(pool.runtime.into()),
                kubelet_version: Some(format!("v1.{minor}.{}", 1 + (i % 3))),
                cloud_provider: Some(c.provider.into()),
                capacity,
            });
        }
    }
    let mut workloads = None;
    if c.workloads {
        let mut w = testing::workloads();
        if let Some(pods) = w.pods.as_mut() {
            pods.total = (nodes.len() * (20 + rng.below(20))) as u64;
        }
        workloads = Some(w);
    }
    Report {
        version: FORMAT_VERSION.into(),
        timestamp: at.to_string(),
        cluster_id: c.id.clone(),
        master_version: Some(format!("v1.{minor}.{}", 2 + day % 5)),
        nodes,
        extensions: Vec::new(),
        workloads,
    }
}

/// FNV-1a of `text`: node IDs that stay the same from day to day.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn res(resource: &str, value: &str) -> Resource {
    Resource {
        resource: resource.into(),
        value: value.into(),
    }
}

fn fill(f: &Fill) -> Result<()> {
    let spec = Spec::parse(&f.store)?;
    let mut sink = Sink::open(&spec, 6)?;
    let mut rng = Rng(0x5eed_2026);
    let fleet: Vec<Cluster> = (0..f.clusters)
        .map(|i| cluster(&mut rng, i, f.days))
        .collect();
    let today = spartakus::time::now_secs() / DAY * DAY;
    let first = today - (f.days - 1) * DAY;
    let rules = Rules {
        window_secs: 3600,
        rate: Gcra::new(6),
    };
    let (mut reports, mut nodes) = (0u64, 0u64);
    let start = Instant::now();
    let mut storing = Duration::ZERO;
    for day in 0..f.days {
        let mut order: Vec<&Cluster> = fleet.iter().collect();
        order.sort_by_key(|c| c.offset);
        let mut batch: Vec<Incoming> = Vec::new();
        let mut batch_nodes = 0;
        for c in order {
            let at = first + day * DAY + c.offset;
            let r = report(c, &mut rng, day, at);
            batch_nodes += r.nodes.len();
            nodes += r.nodes.len() as u64;
            let key = format!("{}-{day}", c.id);
            let sha = sha2::Sha256::digest(key.as_bytes()).into();
            batch.push(Incoming::whole(r, at, Some(key), sha));
            if batch.len() == 256 || batch_nodes >= 20_000 {
                storing += store(&mut sink, &batch, &rules)?;
                reports += batch.len() as u64;
                batch.clear();
                batch_nodes = 0;
            }
        }
        storing += store(&mut sink, &batch, &rules)?;
        reports += batch.len() as u64;
        if day % 10 == 9 || day == f.days - 1 {
            eprintln!(
                "day {}: {reports} reports, {nodes} nodes, {:.0} reports/s stored ({:.0} s in all)",
                day + 1,
                reports as f64 / storing.as_secs_f64(),
                start.elapsed().as_secs_f64()
            );
        }
    }
    println!(
        "filled: {reports} reports, {nodes} nodes, {:.1} nodes per report; storing took {:.1} s: {:.0} reports/s, {:.0} nodes/s",
        nodes as f64 / reports as f64,
        storing.as_secs_f64(),
        reports as f64 / storing.as_secs_f64(),
        nodes as f64 / storing.as_secs_f64()
    );
    Ok(())
}

/// Stores a batch, as the collector's writer does; the time it took.
fn store(sink: &mut Sink, batch: &[Incoming], rules: &Rules) -> Result<Duration> {
    if batch.is_empty() {
        return Ok(Duration::ZERO);
    }
    let refs: Vec<&Incoming> = batch.iter().collect();
    let now_ms = (batch[0].received_at * 1000) as u64;
    let start = Instant::now();
    for outcome in sink.store_batch(&refs, rules, now_ms)? {
        let outcome = outcome?;
        anyhow::ensure!(
            format!("{outcome:?}") == "Stored",
            "a report was {outcome:?}"
        );
    }
    Ok(start.elapsed())
}

/// Runs `f` `runs` times: the first run's time, the median and the best, in milliseconds.
fn timed<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<(T, [f64; 3])> {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        last = Some(f()?);
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let first = times[0];
    times.sort_by(f64::total_cmp);
    let value = last.ok_or_else(|| anyhow::anyhow!("no run"))?;
    Ok((value, [first, times[times.len() / 2], times[0]]))
}

fn measure(m: &Measure) -> Result<()> {
    let spec = Spec::parse(&m.store)?;
    let mut reader = Reader::open(&spec)?;
    let db = reader.conn()?;
    let now = spartakus::time::now_secs();
    let since = now - 180 * DAY;
    let profiles = db.query_int("SELECT COUNT(DISTINCT profile) FROM profile_values", &[])?;
    let reports = db.query_int("SELECT COUNT(*) FROM reports", &[])?;
    println!("store {spec}: {reports} reports, {profiles} distinct profiles");
    let (trend, t) = timed(m.runs, || {
        read::trend(db, Every::Week, (since, now), None, Scope::Clusters, TOP)
    })?;
    println!(
        "trend(week, 180 days): {} periods; ms first/median/best {t:.1?}",
        trend.periods.len()
    );
    let (_, t) = timed(m.runs, || read::current(db, now, 7, TOP))?;
    println!("current(7 days): ms {t:.1?}");
    let mut parts = [Duration::ZERO; 3];
    let (html, t) = timed(m.runs, || {
        let start = Instant::now();
        let trend = read::trend(db, Every::Week, (since, now), None, Scope::Clusters, TOP)?;
        let queried = start.elapsed();
        let current = read::current(db, now, 7, TOP)?;
        let both = start.elapsed();
        let html = page(&View {
            generated_at: now,
            trend,
            current,
            current_days: 7,
        });
        parts = [queried, both - queried, start.elapsed() - both];
        Ok(html)
    })?;
    println!(
        "dashboard page (both queries, the page built, {} bytes): ms {t:.1?}; the last run: trend {:.1}, current {:.1}, page {:.1}",
        html.len(),
        parts[0].as_secs_f64() * 1000.0,
        parts[1].as_secs_f64() * 1000.0,
        parts[2].as_secs_f64() * 1000.0
    );
    let (text, t) = timed(m.runs, || {
        let trend = read::trend(db, Every::Week, (since, now), None, Scope::All, 5)?;
        Ok(trends::table(&trend))
    })?;
    println!(
        "180-day weekly trend, as a table ({} bytes): ms {t:.1?}",
        text.len()
    );
    let (text, t) = timed(m.runs, || {
        Ok(summary::render(&summary::build(db, now, 30, None, 15)?))
    })?;
    println!(
        "summary (30 days, as text, {} bytes): ms {t:.1?}",
        text.len()
    );
    Ok(())
}
