//! A real Prometheus server (Debian's `prometheus`) scraping a collector's `/metrics` on
//! 127.0.0.1 every second, with its data in a scratch directory, and asked through its HTTP API
//! what it kept: what an operator's Prometheus makes of the exposition, not what a parser of
//! the tests' own makes of it.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use crate::support::collect::{TempDir, request};
use crate::support::util::percent_encode;
use crate::support::wait_until;

pub struct Prometheus {
    child: Child,
    addr: SocketAddr,
    dir: TempDir,
}

impl Prometheus {
    /// A Prometheus scraping `target` every second as job `spartakus`, once it has scraped it
    /// at least once.
    pub fn scraping(target: SocketAddr) -> Prometheus {
        let dir = TempDir::new("prometheus");
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: spartakus\n    static_configs:\n\
                 \x20     - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = crate::support::http::refused_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting prometheus");
        let mut p = Prometheus { child, addr, dir };
        wait_until("Prometheus to scrape the collector", || {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("Prometheus exited ({status}): {}", p.log());
            }
            p.try_query(r#"scrape_samples_scraped{job="spartakus"}"#)
                .is_some_and(|r| !r.is_empty())
        });
        p
    }

    /// The instant vector `query` evaluates to now: each series' labels and value.
    pub fn query(&self, query: &str) -> Vec<(serde_json::Value, f64)> {
        self.try_query(query)
            .unwrap_or_else(|| panic!("Prometheus did not answer {query}: {}", self.log()))
    }

    fn try_query(&self, query: &str) -> Option<Vec<(serde_json::Value, f64)>> {
        let path = format!("/api/v1/query?query={}", percent_encode(query));
        // Not up yet: refused (asked again), rather than the panic of `request`.
        std::net::TcpStream::connect(self.addr).ok()?;
        let resp = request(self.addr, "GET", &path, &[], b"");
        if resp.status != 200 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&resp.text()).ok()?;
        let result = v["data"]["result"].as_array()?;
        Some(
            result
                .iter()
                .map(|s| {
                    let value = s["value"][1].as_str().unwrap_or("NaN").parse().unwrap();
                    (s["metric"].clone(), value)
                })
                .collect(),
        )
    }

    /// The one value `query` evaluates to.
    pub fn value(&self, query: &str) -> f64 {
        match self.query(query).as_slice() {
            [(_, v)] => *v,
            other => panic!("{query}: want one series, got {other:?}"),
        }
    }

    /// A series of Prometheus' own `/metrics` (what it says of its scrapes), summed over its
    /// labels.
    pub fn own(&self, name: &str) -> f64 {
        let page = request(self.addr, "GET", "/metrics", &[], b"").text();
        let found: Vec<f64> = page
            .lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|r| r.starts_with([' ', '{']))
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(!found.is_empty(), "no {name} on Prometheus' own page");
        found.iter().sum()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
