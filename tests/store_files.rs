//! The SQLite store's files as other programs meet them (issue 17): every acknowledged report
//! survives `kill -9` whatever else read the store meanwhile (the `sqlite3` shell, `summary`,
//! `export`, `backup`, the dashboard), because the collector never loses its locks on the file;
//! one collector per file; nothing created by a collector that cannot start; stores that cannot
//! be created, or only read, said in words.

use crate::support::collect::*;
use crate::support::{HANG_GUARD, need};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `sqlite3 DB SQL` in a process of its own, as an operator would look at the store.
fn sqlite3(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .unwrap_or_else(|e| {
            panic!("the sqlite3 shell is needed here ({e}): apt-get install sqlite3")
        });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The binary with `args`; one that is still running after the hang guard (a second collector
/// that was not refused) is killed and its output returned.
fn run(args: &[&str]) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .env_clear()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if rx.recv_timeout(HANG_GUARD).is_err() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    });
    let out = child.wait_with_output().unwrap();
    let _ = tx.send(());
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The collector's store still has its WAL and WAL index: no other process took them for its
/// own (it would have, had the collector lost its locks), and the collector still holds POSIX
/// locks on the store's file.
fn assert_held(c: &Collector, db: &Path, after: &str) {
    for suffix in ["-wal", "-shm"] {
        let file = with_suffix(db, suffix);
        assert!(file.exists(), "{} is gone after {after}", file.display());
    }
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(db).unwrap().ino();
    let locks = std::fs::read_to_string("/proc/locks").unwrap();
    let pid = c.child.id().to_string();
    let held = locks.lines().any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // "1: POSIX  ADVISORY  READ 1234 fd:01:5678 128 128"
        f.get(1) == Some(&"POSIX")
            && f.get(4) == Some(&pid.as_str())
            && f.get(5).and_then(|d| d.rsplit(':').next()) == Some(inode.to_string().as_str())
    });
    assert!(
        held,
        "the collector holds no lock on {} after {after}:\n{locks}",
        db.display()
    );
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Sends one report of a cluster of its own; panics unless it is acknowledged.
fn acknowledge(c: &Collector, acked: &mut Vec<String>) {
    let cluster = format!("durable-{}", acked.len());
    let resp = c.post(report(&cluster, 3).as_bytes(), &[]);
    assert_eq!(resp.status, 204, "{}", resp.text());
    acked.push(cluster);
}

/// Every kind of connection the collector opens, used once: the writer's (reports), the
/// reader's behind /metrics and the fleet gauges, a deletion (it empties the WAL), the write
/// probe behind /readyz. After each, another process's `sqlite3` reads the store, and the
/// collector still holds its locks and its WAL.
fn use_every_connection(c: &Collector, db: &Path, acked: &mut Vec<String>) {
    let read_then_held = |after: &str| {
        sqlite3(db, "SELECT COUNT(*) FROM reports");
        assert_held(c, db, after);
    };
    for _ in 0..3 {
        acknowledge(c, acked);
    }
    read_then_held("storing reports (the writer's connection)");
    let metrics = c.get("/metrics").text();
    assert!(metrics.contains("spartakus_fleet_clusters"), "{metrics}");
    read_then_held("a /metrics scrape (the reader's connection)");
    let gone = c.post(report("forget-me", 1).as_bytes(), &[]);
    assert_eq!(gone.status, 204);
    let forget = request(c.addr, "DELETE", "/api/v1/clusters/forget-me", &[], b"");
    assert_eq!(forget.status, 204);
    read_then_held("a deletion");
    assert_eq!(c.get("/readyz").status, 200);
    read_then_held("a readiness probe");
}

/// What reads a live store besides the collector, each in a process of its own.
const READERS: [&str; 5] = ["sqlite3", "summary", "export", "backup", "dashboard"];

/// `reader` reads the store at `db` once, and succeeds.
fn read_with(reader: &str, db: &Path) {
    let store = db.to_str().unwrap();
    match reader {
        "sqlite3" => {
            sqlite3(db, "SELECT COUNT(*) FROM reports");
        }
        "backup" => {
            let copy = db.with_file_name("copy.db");
            let to = copy.to_str().unwrap();
            let out = run(&["backup", "--store", store, "--to", to, "--force"]);
            assert!(out.status.success(), "{}", stderr(&out));
        }
        "dashboard" => {
            let dashboard = Collector::dashboard(store);
            assert_eq!(dashboard.get("/").status, 200);
        }
        command => {
            let out = run(&[command, "--store", store]);
            assert!(out.status.success(), "{command}: {}", stderr(&out));
        }
    }
}

#[test]
fn acknowledged_reports_survive_other_readers_and_sigkill() {
    if !need::sqlite3() {
        return;
    }
    let dir = TempDir::new("readers");
    let db = dir.db();
    let mut c = Collector::sqlite(&dir, &[]);
    let mut acked = Vec::new();
    use_every_connection(&c, &db, &mut acked);
    for reader in READERS {
        read_with(reader, &db);
        assert_held(&c, &db, reader);
        for _ in 0..2 {
            acknowledge(&c, &mut acked);
        }
        // What it acknowledged is visible to the next reader at once.
        let count = sqlite3(&db, "SELECT COUNT(*) FROM reports");
        assert_eq!(count, acked.len().to_string(), "after {reader}");
    }

    c.child.kill().unwrap(); // SIGKILL: nothing flushed, nothing closed.
    c.child.wait().unwrap();
    let s = summary_json(&db, &[]);
    assert_eq!(s["reports"], acked.len(), "{s:#}");
    let stored = sqlite3(&db, "SELECT cluster_id FROM reports ORDER BY id");
    let stored: Vec<&str> = stored.lines().collect();
    assert_eq!(
        stored, acked,
        "every acknowledged report, none of the forgotten one"
    );
}

#[test]
fn a_second_collector_on_the_same_file_is_refused() {
    if !need::sqlite3() {
        return;
    }
    let dir = TempDir::new("second");
    let db = dir.db();
    let first = Collector::sqlite(&dir, &[]);
    let mut acked = Vec::new();
    acknowledge(&first, &mut acked);
    let store = db.to_str().unwrap();
    let out = run(&["collect", "--listen", "127.0.0.1:0", "--store", store]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "spartakus: error: store {store} is in use by another `spartakus collect` (it holds \
             {store}.lock); stop that one first: one collector writes a SQLite store (several \
             may share a PostgreSQL database) (see `spartakus collect --help`)\n"
        )
    );
    // The first one never noticed.
    acknowledge(&first, &mut acked);
    assert_held(&first, &db, "a second collector's start");
    drop(first);
    // Once it is gone, the store is free again.
    let next = Collector::sqlite(&dir, &[]);
    acknowledge(&next, &mut acked);
    assert_eq!(sqlite3(&db, "SELECT COUNT(*) FROM reports"), "3");
}

#[test]
fn a_backup_never_replaces_a_live_store() {
    if !need::sqlite3() {
        return;
    }
    let dir = TempDir::new("backup-over");
    let db = dir.db();
    let c = Collector::sqlite(&dir, &[]);
    let mut acked = Vec::new();
    acknowledge(&c, &mut acked);
    let store = db.to_str().unwrap();
    let wal = format!("{store}-wal");
    for (to, part) in [(store, "the file"), (wal.as_str(), "the WAL")] {
        let out = run(&["backup", "--store", store, "--to", to, "--force"]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert_eq!(
            stderr(&out),
            format!(
                "spartakus: error: --to {to} is {part} of the store itself; write the copy to \
                 another file (see `spartakus backup --help`)\n"
            )
        );
    }
    // Another collector's live store is not replaced either, even with --force.
    let other = TempDir::new("backup-other");
    let second = Collector::sqlite(&other, &[]);
    acknowledge(&second, &mut acked);
    let to = other.db();
    let to = to.to_str().unwrap();
    let out = run(&["backup", "--store", store, "--to", to, "--force"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("{to} is the store of a running collector")),
        "{}",
        stderr(&out)
    );
    assert_held(&c, &db, "refused backups");
    assert_held(&second, &other.db(), "a refused backup over it");
    assert_eq!(sqlite3(&other.db(), "SELECT COUNT(*) FROM reports"), "1");
}

#[test]
fn a_collector_that_cannot_listen_creates_no_store() {
    let dir = TempDir::new("nobind");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let store = dir.db();
    let out = run(&[
        "collect",
        "--listen",
        &listen,
        "--store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with(&format!("spartakus: error: listening on {listen}: ")),
        "{}",
        stderr(&out)
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "created {left:?}");
}

#[test]
fn a_store_that_cannot_be_created_is_said_in_words() {
    let dir = TempDir::new("cannot");
    let missing = dir.join("no/such/dir/s.db");
    let out = run(&[
        "collect",
        "--listen",
        "127.0.0.1:0",
        "--store",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.starts_with(&format!(
            "spartakus: error: cannot create or open store {}: the directory {} does not exist",
            missing.display(),
            dir.join("no/such/dir").display()
        )),
        "{said}"
    );
    assert!(!said.contains("code 14"), "{said}");

    let closed = Unwritable::new(&dir, "closed");
    closed.close();
    let store = closed.dir.join("s.db");
    let out = closed.run(&["collect", "--listen", "127.0.0.1:0", "--store"], &store);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with(&format!(
            "spartakus: error: cannot create or open store {}: this user may not create or \
             write files in the directory {}",
            store.display(),
            closed.dir.display()
        )),
        "{}",
        stderr(&out)
    );
    assert!(!store.exists());
}

#[test]
fn views_read_a_live_store_in_a_directory_they_cannot_write() {
    if !need::sqlite3() {
        return;
    }
    let dir = TempDir::new("views");
    let live = Unwritable::new(&dir, "live");
    let db = live.dir.join("s.db");
    let c = Collector::start(db.to_str().unwrap(), &[]);
    let mut acked = Vec::new();
    for _ in 0..2 {
        acknowledge(&c, &mut acked);
    }
    live.close();
    let out = live.run(&["summary", "--json", "--store"], &db);
    assert!(out.status.success(), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["reports"], 2);
    let out = live.run(&["export", "--store"], &db);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    let dashboard =
        Collector::spawn(live.command(&["dashboard", "--listen", "127.0.0.1:0", "--store"], &db));
    assert_eq!(dashboard.get("/").status, 200);
    drop(dashboard);
    // The reads took nothing from the collector.
    acknowledge(&c, &mut acked);
    assert_held(&c, &db, "reads in a directory they cannot write");

    // Stopped, the store has no WAL left to read through: it is read as it is.
    drop(c);
    live.open();
    sqlite3(&db, "PRAGMA wal_checkpoint(TRUNCATE)");
    let _ = std::fs::remove_file(with_suffix(&db, "-wal"));
    let _ = std::fs::remove_file(with_suffix(&db, "-shm"));
    live.close();
    let out = live.run(&["summary", "--json", "--store"], &db);
    assert!(out.status.success(), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["reports"], 3);
    assert!(
        !with_suffix(&db, "-wal").exists(),
        "nothing written beside it"
    );
}

/// A directory the binary, run through [`Unwritable::run`], may not write: as root, the binary
/// runs as `nobody` (65534) through `setpriv` and the directory stays root's; otherwise the
/// directory is made read-only (`0555`) once [`Unwritable::close`] is called.
struct Unwritable {
    dir: PathBuf,
    bin: PathBuf,
    root: bool,
}

impl Unwritable {
    fn new(parent: &TempDir, name: &str) -> Unwritable {
        use std::os::unix::fs::PermissionsExt;
        let dir = parent.join(name);
        std::fs::create_dir(&dir).unwrap();
        for d in [parent.path(), dir.as_path()] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        // A copy the other user can run, wherever the checkout is.
        let bin = parent.join("spartakus");
        if !bin.exists() {
            std::fs::copy(BIN, &bin).unwrap();
        }
        Unwritable {
            dir,
            bin,
            root: need::is_root(),
        }
    }

    /// Closes the directory to writes (without root: its mode).
    fn close(&self) {
        self.chmod(0o555);
    }

    /// Opens it again (without root), to change it from the test.
    fn open(&self) {
        self.chmod(0o755);
    }

    fn chmod(&self, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        if !self.root {
            std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }

    fn command(&self, args: &[&str], store: &Path) -> Command {
        let mut cmd = if self.root {
            let mut cmd = Command::new("setpriv");
            cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(&self.bin);
            cmd
        } else {
            Command::new(&self.bin)
        };
        cmd.args(args).arg(store).env_clear();
        cmd
    }

    fn run(&self, args: &[&str], store: &Path) -> Output {
        self.command(args, store).output().unwrap()
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        self.open();
    }
}
