//! The dashboard in real headless browsers: `spartakus dashboard` over a store with half a year
//! of history, loaded by Chromium (through chromedriver) and by Firefox (through WebDriver
//! BiDi), every chart drawn with the series its data has, the tables within their sections,
//! the stylesheet applied under the strict Content-Security-Policy, no script, no cluster ID,
//! and a screenshot of the page (Chromium's) kept in the test run's directory.

use crate::support;
use crate::support::collect::{Collector, ok, store_reports};
use crate::support::pg_server;
use spartakus::collector::store::{Sink, Spec};
use spartakus::contract::{Node, Report, Resource};
use std::time::Instant;
use support::browser::{Browser, Page};
use support::firefox::Firefox;
use support::util::TempDir;

const DAY: i64 = 86_400;

/// A report of `nodes` nodes: version, OS image and architecture as given, GPUs on some.
fn report(cluster: &str, version: &str, image: &str, arch: &str, nodes: usize, at: i64) -> Report {
    Report {
        version: "v1.0.0".into(),
        timestamp: at.to_string(),
        cluster_id: cluster.into(),
        master_version: Some(version.into()),
        nodes: (0..nodes)
            .map(|i| Node {
                id: format!("{:032x}", i + 1),
                operating_system: Some("linux".into()),
                os_image: Some(image.into()),
                architecture: Some(arch.into()),
                // Half the nodes of an upgraded cluster still on the kubelet before.
                kubelet_version: Some(if i % 2 == 1 { "v1.32.5" } else { version }.into()),
                container_runtime_version: Some("containerd://1.7.27".into()),
                cloud_provider: Some("aws".into()),
                capacity: vec![Resource {
                    resource: "nvidia.com/gpu".into(),
                    value: if i % 4 == 0 { "8" } else { "0" }.into(),
                }],
                ..Node::default()
            })
            .collect(),
        extensions: Vec::new(),
        workloads: None,
    }
}

/// 40 clusters reporting weekly for 26 weeks; a new Kubernetes version spreads over the last
/// ten weeks (30 of 40 clusters upgraded by now); cluster IDs planted to be looked for on the page.
fn fill(store: &Spec, now: i64) -> Vec<String> {
    let ids: Vec<String> = (0..40).map(|i| format!("secret-cluster-{i:03}")).collect();
    let mut reports = Vec::new();
    for week in 0..26i64 {
        let at = now - (25 - week) * 7 * DAY - 3600;
        reports.extend(ids.iter().enumerate().map(|(i, id)| {
            let upgraded = week >= 16 && (i as i64) < (week - 15) * 3;
            let version = if upgraded { "v1.33.2" } else { "v1.32.5" };
            let (image, arch) = if i % 3 == 0 {
                ("Bottlerocket OS 1.19.2 (aws-k8s-1.29)", "arm64")
            } else {
                ("Ubuntu 24.04.1 LTS", "amd64")
            };
            let mut r = report(id, version, image, arch, 1 + i % 7, at);
            if week == 25 && i == 39 {
                // A long value without spaces, and one that would reorder what it shows.
                r.nodes[0].os_image = Some("x".repeat(256));
                r.nodes[0].kubelet_version = Some("gnp\u{202e}.exe".into());
            }
            (r, at)
        }));
    }
    store_reports(store, reports);
    ids
}

/// `spartakus dashboard` on a store, once it listens, and its page's URL.
struct Dashboard {
    /// Kept for as long as the test runs: dropped, it stops the server.
    _server: Collector,
    url: String,
}

impl Dashboard {
    fn start(store: &str) -> Dashboard {
        let server = Collector::dashboard(store);
        let url = format!("http://{}/", server.addr);
        Dashboard {
            _server: server,
            url,
        }
    }
}

/// A store of half a year's history, and a dashboard on it.
fn dashboard(dir: &TempDir) -> (Dashboard, Vec<String>) {
    let store = dir.join("s.db");
    let now = spartakus::time::now_secs();
    let ids = fill(&Spec::Sqlite(store.clone()), now);
    (Dashboard::start(store.to_str().unwrap()), ids)
}

/// What every browser must show of the page.
fn the_page_in(browser: &dyn Page, dashboard: &Dashboard, ids: &[String]) {
    let started = Instant::now();
    browser.open(&dashboard.url);
    eprintln!("page loaded in {:?}", started.elapsed());
    assert_eq!(browser.title(), "spartakus: the fleet");
    charts(browser);
    tables(browser);
    policy_and_privacy(browser, dashboard, ids);
}

#[test]
fn the_dashboard_draws_the_fleet_in_a_real_browser() {
    let dir = TempDir::new("dashboard");
    let (dashboard, ids) = dashboard(&dir);
    let Some(browser) = Browser::start() else {
        return;
    };
    the_page_in(&browser, &dashboard, &ids);
    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG"));
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&shot, &png).unwrap();
    eprintln!("screenshot: {}", shot.display());
}

/// The same page in a second engine: Firefox lays out, wraps and draws it too.
#[test]
fn the_dashboard_draws_the_fleet_in_firefox_too() {
    let dir = TempDir::new("dashboard-firefox");
    let (dashboard, ids) = dashboard(&dir);
    let Some(browser) = Firefox::start() else {
        return;
    };
    the_page_in(&browser, &dashboard, &ids);
}

/// The `data-series` of `section`'s chart's elements matching `what` (`g.series`, `g.key`),
/// each drawn at a visible size.
fn drawn(browser: &dyn Page, section: &str, what: &str) -> Vec<String> {
    let root = browser.find_all(&format!("section#{section}"));
    assert_eq!(root.len(), 1, "no section {section}");
    browser
        .find_in(&root[0], &format!("figure svg {what}"))
        .iter()
        .map(|g| {
            let rect = browser.rect(g);
            assert!(
                rect.width > 0.0 || rect.height > 0.0,
                "{section}: an empty {what}"
            );
            browser.attribute(g, "data-series").unwrap_or_default()
        })
        .collect()
}

/// Each chart is drawn, with the series its data has, at a visible size; the charts of several
/// series over time have a legend naming each.
fn charts(browser: &dyn Page) {
    let series = |section: &str| drawn(browser, section, "g.series");
    assert_eq!(series("clusters"), ["clusters"]);
    assert_eq!(series("nodes"), ["nodes"]);
    assert_eq!(series("versions"), ["v1.33", "v1.32"]);
    assert_eq!(drawn(browser, "versions", "g.key"), ["v1.33", "v1.32"]);
    assert_eq!(series("kubernetes_version"), ["v1.33", "v1.32"]);
    // Upgraded clusters of two nodes or more run one kubelet a minor behind.
    assert_eq!(drawn(browser, "skew", "g.key"), ["0", "1"]);
    assert_eq!(series("version_skew"), ["0", "1", "unknown"]);
    let mut archs = series("architecture");
    archs.sort();
    assert_eq!(archs, ["amd64", "arm64"]);
    let mut images = series("os_image");
    images.sort();
    assert_eq!(images, ["Bottlerocket OS", "Ubuntu", &"x".repeat(256)]);
    let mut accelerators = series("accelerator");
    accelerators.sort();
    assert_eq!(accelerators, ["none", "nvidia"]);
    assert_eq!(
        series("sizes"),
        ["0", "1", "2-5", "6-20", "21-100", "101-1000", ">1000"]
    );
    // This week is not finished: its segment is dashed, and it says so.
    let clusters = browser.find_all("section#clusters polyline.unfinished");
    assert_eq!(clusters.len(), 1);
    assert!(
        browser
            .text(&browser.find_all("section#clusters p")[0])
            .contains("not finished")
    );
}

/// The data table beside a chart says what the chart shows; a long value wraps inside its
/// table; a value that would reorder its text is shown escaped.
fn tables(browser: &dyn Page) {
    let clusters_table = browser.find_all("section#clusters table tbody tr");
    // 26 weeks with reports (this one included); the empty weeks before the first are left out.
    assert_eq!(clusters_table.len(), 26);
    let last = browser.text(clusters_table.last().unwrap());
    assert!(last.ends_with("(so far) 40"), "{last}");
    for section in ["os_image", "kubelet_version"] {
        let root = &browser.find_all(&format!("section#{section}"))[0];
        let outer = browser.rect(root);
        for cell in browser.find_in(root, "table td") {
            let inner = browser.rect(&cell);
            assert!(
                inner.x + inner.width <= outer.x + outer.width + 1.0,
                "{section}: a cell runs past its section ({inner:?} in {outer:?})"
            );
            let width = |p: &str| browser.property(&cell, p).as_f64().unwrap_or(0.0);
            assert!(
                width("scrollWidth") <= width("clientWidth"),
                "{section}: a value runs out of its cell over the next ones"
            );
        }
        // A long value wraps in its own cell; a number never does ("17.0 %" split over two
        // lines, once every cell could break anywhere).
        for cell in browser.find_in(root, "table td:not(:first-child)") {
            assert_eq!(browser.css(&cell, "white-space"), "nowrap", "{section}");
        }
    }
    let kubelets = browser.text(&browser.find_all("section#kubelet_version table")[0]);
    assert!(kubelets.contains("gnp\\u{202e}.exe"), "{kubelets}");
}

/// The stylesheet applied (served from the page's origin, under its policy), no script,
/// nothing blocked, and never a cluster ID.
fn policy_and_privacy(browser: &dyn Page, dashboard: &Dashboard, ids: &[String]) {
    let body = browser.find_all("body");
    assert_eq!(browser.css(&body[0], "max-width"), "1200px");
    assert!(browser.find_all("script").is_empty());
    let console = browser.console();
    assert!(!console.iter().any(|m| refused(m)), "{console:?}");
    let text = browser.text(&body[0]);
    for id in ids {
        assert!(!text.contains(id.as_str()), "the page shows a cluster ID");
    }
    let html = ureq::get(&dashboard.url)
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(!html.contains("secret-cluster"));
}

/// Whether a console message says the page's policy refused something, as Chromium, Firefox
/// and the Firefox driver's own record of violations say it.
fn refused(message: &str) -> bool {
    [
        "Content Security Policy",
        "Content-Security-Policy",
        "Refused",
        "refused",
        "blocked",
    ]
    .iter()
    .any(|said| message.contains(said))
}

/// The dashboard, summaries and export need only read access: on PostgreSQL, a role that may
/// only SELECT serves the page and prints the trend and the export.
#[test]
fn reading_needs_only_select_on_postgres() {
    let Some(server) = pg_server::shared() else {
        return;
    };
    let url = server.fresh_url();
    let now = spartakus::time::now_secs();
    let ids = fill(&Spec::parse(&url).unwrap(), now);
    let database = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let role = format!("reader_{}", std::process::id());
    {
        use spartakus::collector::store::{Pg, PgUrl, sql::Conn};
        let mut admin = Pg::connect(&PgUrl::parse(&url).unwrap()).unwrap();
        admin
            .batch(&format!(
                "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN;
                 GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};"
            ))
            .unwrap();
    }
    let reader = format!(
        "postgres://{role}@127.0.0.1:{}/{database}?sslmode=disable",
        server.port
    );
    let dashboard = Dashboard::start(&reader);
    let page = ureq::get(&dashboard.url)
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(page.contains("<svg") && page.contains("v1.33"), "{page}");
    assert!(!page.contains("secret-cluster"));
    let run = |args: &[&str]| ok(&[args, &["--store", &reader]].concat());
    let trend = run(&["summary", "--since", "30d", "--every", "week"]);
    assert!(trend.contains("v1.32"), "{trend}");
    let export = run(&["export", "--since", "3d"]);
    assert_eq!(export.lines().count(), ids.len(), "{export}");
}

/// The access log says each request's method, as the collector's does (it said `GET` for all).
#[test]
fn the_access_log_says_the_method() {
    let dir = TempDir::new("dashboard-log");
    let store = dir.join("s.db");
    drop(Sink::open(&Spec::Sqlite(store.clone()), 0).unwrap());
    let dashboard = Dashboard::start(store.to_str().unwrap());
    let addr = dashboard._server.addr;
    let answer = support::collect::request(addr, "POST", "/", &[], b"");
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("allow"), Some("GET, HEAD"));
    let log = || dashboard._server.log();
    support::wait_until("the request's log line", || log().contains(" / 405 "));
    assert!(log().contains("POST / 405 "), "{}", log());
}

/// The policy check above can fail in Firefox: a page whose own policy refuses its inline
/// style shows the refusal in what [`Page::console`] gives.
#[test]
fn a_refused_style_shows_in_firefoxs_console() {
    let Some(browser) = Firefox::start() else {
        return;
    };
    let page = "<!doctype html><meta http-equiv=\"Content-Security-Policy\" \
                content=\"style-src 'none'\"><style>b{color:red}</style><b>x</b>";
    let url = format!("data:text/html,{}", support::util::percent_encode(page));
    browser.open(&url);
    let console = browser.console();
    assert!(console.iter().any(|m| refused(m)), "{console:?}");
}
