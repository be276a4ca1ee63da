//! The collector as users meet it, shared by the collector's test files: the real `spartakus
//! collect` binary on 127.0.0.1 (any store), spoken to over raw HTTP/1.1, and `spartakus
//! summary` reading what it stored.
//!
//! [`Collector::spawn`] is the one way the tests start a server of the binary (`collect`,
//! `dashboard`) and learn its address from its `listening on ADDR` line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_spartakus");

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

pub use crate::support::util::{TempDir, gzip, gzip_at};
use crate::support::{HANG_GUARD, wait_until};
use spartakus::contract::Report;

/// Where a test's SQLite store lives.
pub trait StorePath {
    fn db(&self) -> PathBuf;
}

impl StorePath for TempDir {
    fn db(&self) -> PathBuf {
        self.join("spartakus.db")
    }
}

/// A running collector. Killed when dropped.
pub struct Collector {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr: Arc<Mutex<String>>,
    pub stdout: Arc<Mutex<String>>,
    /// Set once its standard output, and its standard error, is closed (it exited) and read to
    /// the end.
    stdout_closed: Arc<AtomicBool>,
    stderr_closed: Arc<AtomicBool>,
}

impl Collector {
    pub fn start(store: &str, extra: &[&str]) -> Collector {
        let mut cmd = Command::new(BIN);
        cmd.args(["collect", "--listen", "127.0.0.1:0", "--store", store])
            .args(extra)
            .env_clear();
        Collector::spawn(cmd)
    }

    /// Any server of the binary (`collect`, `dashboard`) started by `cmd`, once it says
    /// `listening on ADDR`; its standard output and error are collected as they come. A server
    /// that exits instead fails the test at once, with what it said.
    pub fn spawn(mut cmd: Command) -> Collector {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let stdout = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let err_pipe = child.stderr.take().unwrap();
        let log = stderr.clone();
        let stderr_closed = Arc::new(AtomicBool::new(false));
        let closed = stderr_closed.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err_pipe).lines() {
                let Ok(line) = line else { break };
                // Logged before the address is handed over, so that a test that counts the
                // log's lines once `start` returns counts this one too.
                log.lock().unwrap().push_str(&format!("{line}\n"));
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr = rest.split(',').next().unwrap_or("").to_string();
                    let _ = tx.send(addr);
                }
            }
            closed.store(true, Ordering::SeqCst);
        });
        let out_pipe = child.stdout.take().unwrap();
        let out = stdout.clone();
        let stdout_closed = Arc::new(AtomicBool::new(false));
        let closed = stdout_closed.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out_pipe).lines() {
                let Ok(line) = line else { break };
                out.lock().unwrap().push_str(&(line + "\n"));
            }
            closed.store(true, Ordering::SeqCst);
        });
        let addr = rx
            .recv_timeout(HANG_GUARD)
            .unwrap_or_else(|_| panic!("the server did not start: {}", stderr.lock().unwrap()));
        Collector {
            child,
            addr: addr.parse().unwrap(),
            stderr,
            stdout,
            stdout_closed,
            stderr_closed,
        }
    }

    /// `spartakus dashboard` on `store`, once it listens.
    pub fn dashboard(store: &str) -> Collector {
        let mut cmd = Command::new(BIN);
        cmd.args(["dashboard", "--listen", "127.0.0.1:0", "--store", store])
            .env_clear();
        Collector::spawn(cmd)
    }

    pub fn sqlite(dir: &TempDir, extra: &[&str]) -> Collector {
        Collector::start(dir.db().to_str().unwrap(), extra)
    }

    pub fn post(&self, body: &[u8], headers: &[(&str, &str)]) -> Resp {
        let mut all = vec![("Content-Type", "application/json")];
        all.extend_from_slice(headers);
        request(self.addr, "POST", "/api/v1", &all, body)
    }

    pub fn get(&self, path: &str) -> Resp {
        request(self.addr, "GET", path, &[], b"")
    }

    /// Waits until `n` requests are in flight, the `/metrics` request that asks counting itself.
    pub fn await_in_flight(&self, n: u32) {
        let line = format!("spartakus_collector_requests_in_flight {n}");
        wait_until(&format!("{n} requests in flight"), || {
            self.get("/metrics").text().contains(&line)
        });
    }

    pub fn metric(&self, series: &str) -> f64 {
        let text = self.get("/metrics").text();
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Its standard output, once it holds at least `n` lines (the stdout store prints a line
    /// per report it keeps).
    pub fn stdout_lines(&self, n: usize) -> String {
        let printed = || self.stdout.lock().unwrap().clone();
        wait_until(&format!("{n} lines on the collector's stdout"), || {
            printed().lines().count() >= n
        });
        printed()
    }

    /// All it printed on its standard output, once that is closed (after it exited or was
    /// killed) and read to the end.
    pub fn stdout_to_end(&self) -> String {
        wait_until("the collector's stdout to close", || {
            self.stdout_closed.load(Ordering::SeqCst)
        });
        self.stdout.lock().unwrap().clone()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    /// Its exit status, if it exits within `limit`; then its output has been read to the end,
    /// so [`Collector::log`] holds every line it wrote.
    pub fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                wait_until("the collector's output to close", || {
                    self.stdout_closed.load(Ordering::SeqCst)
                        && self.stderr_closed.load(Ordering::SeqCst)
                });
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn error(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("error body is not JSON ({e}): {}", self.text()));
        v["error"].as_str().unwrap().to_string()
    }
}

pub fn parse_response(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// A connection to `addr` whose reads give up after [`HANG_GUARD`]: an answer a busy machine
/// takes long to give (six 16 MB reports at once, say) is still read.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(HANG_GUARD)).unwrap();
    s
}

/// One request on its own connection (`Connection: close`), the response read to the end.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut s = connect(addr);
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: collector\r\nConnection: close\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (413, 415) before reading the whole body; that is fine.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_response(&raw)
}

pub fn report(cluster: &str, nodes: usize) -> String {
    let nodes: Vec<String> = (0..nodes)
        .map(|i| {
            format!(
                r#"{{"id":"{i:032x}","operatingSystem":"linux","osImage":"Ubuntu 24.04.2 LTS","kernelVersion":"6.8.0-1021-aws","architecture":"{}","containerRuntimeVersion":"containerd://1.7.27","kubeletVersion":"v1.33.2","cloudProvider":"aws","capacity":[{{"resource":"cpu","value":"4"}},{{"resource":"memory","value":"16Gi"}}]}}"#,
                if i % 3 == 0 { "arm64" } else { "amd64" }
            )
        })
        .collect();
    format!(
        r#"{{"version":"v1.0.0","timestamp":"1764000000","clusterID":"{cluster}","masterVersion":"v1.33.2","nodes":[{}],"extensions":[{{"name":"example.com/tier","value":"gold"}}]}}"#,
        nodes.join(",")
    )
}

/// The example payload of the original spartakus README, exactly as its Go volunteer sent it.
pub const ORIGINAL_VOLUNTEER: &str = include_str!("../fixtures/original-volunteer.json");

/// Stores `reports` (each with the time it was received) in `store` through the store's own
/// write path, as the collector's writer does (batches of 200, no duplicate window, no rate
/// limit); each must be stored.
pub fn store_reports(store: &spartakus::collector::store::Spec, reports: Vec<(Report, i64)>) {
    use sha2::Digest;
    use spartakus::collector::store::{Incoming, Rules, Sink};
    let mut sink = Sink::open(store, 0).unwrap();
    let rules = Rules {
        window_secs: 0,
        rate: None,
    };
    for chunk in reports.chunks(200) {
        let batch: Vec<Incoming> = chunk
            .iter()
            .map(|(report, at)| {
                let sha = sha2::Sha256::digest(serde_json::to_vec(report).unwrap()).into();
                Incoming::whole(report.clone(), *at, None, sha)
            })
            .collect();
        let refs: Vec<&Incoming> = batch.iter().collect();
        for outcome in sink.store_batch(&refs, &rules, 0).unwrap() {
            assert_eq!(format!("{:?}", outcome.unwrap()), "Stored");
        }
    }
}

/// The binary with `args` and an empty environment, run to its end.
pub fn spartakus(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_clear().output().unwrap()
}

/// [`spartakus`], which must succeed: its standard output.
pub fn ok(args: &[&str]) -> String {
    let out = spartakus(args);
    assert!(
        out.status.success(),
        "spartakus {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn summary(db: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["summary", "--store", db.to_str().unwrap()])
        .args(extra)
        .env_clear()
        .output()
        .unwrap()
}

pub fn summary_json(db: &Path, extra: &[&str]) -> serde_json::Value {
    let out = summary(db, &[&["--json"], extra].concat());
    assert!(
        out.status.success(),
        "summary failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
