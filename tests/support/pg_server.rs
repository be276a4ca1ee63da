//! A real PostgreSQL server for the tests: started from the machine's PostgreSQL 15 binaries
//! (Debian's `postgresql-15`) with `initdb` in a temporary directory, as the `postgres` user when
//! the tests run as root, listening on a free port of 127.0.0.1 only, and stopped (its directory
//! removed) when the test process ends. One shared server per test process ([`shared`]); each
//! test takes a fresh database of its own ([`PgServer::fresh_url`]), so tests run in parallel.
//!
//! Without PostgreSQL the tests that need it go by [`super::need`]'s rule: under CI they fail
//! saying how to install it, elsewhere they say `SKIPPED` and return. A developer may also set
//! `SPARTAKUS_SKIP_POSTGRES=1` to skip them where PostgreSQL is installed; CI never does.

use super::need;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A running server. `fsync` is off (the tests never crash the machine), but every commit is
/// written before it is acknowledged, so a server stopped as if it crashed keeps it.
pub struct PgServer {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    /// Run the server's programs as the `postgres` user (the tests run as root).
    as_postgres: bool,
}

/// TLS for a server: PEM files the server uses.
pub struct ServerTls {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The shared server: the one `.ci/run` started (`SPARTAKUS_TEST_POSTGRES`, the URL of its
/// `postgres` database on 127.0.0.1), else one started on first use; `None` when the test
/// cannot run (see [`skipped`]).
pub fn shared() -> Option<&'static PgServer> {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    let given = std::env::var("SPARTAKUS_TEST_POSTGRES").ok();
    if opted_out() || given.is_none() && !installed() {
        return None;
    }
    Some(SERVER.get_or_init(|| match given {
        Some(url) => PgServer::running(&url),
        None => PgServer::start(None),
    }))
}

/// Whether a test that starts PostgreSQL servers of its own cannot run: the developer opted
/// out, or PostgreSQL 15 is not installed (see [`need`]).
pub fn skipped() -> bool {
    opted_out() || !installed()
}

fn opted_out() -> bool {
    need::opted_out("SPARTAKUS_SKIP_POSTGRES", "the PostgreSQL tests")
}

/// Whether PostgreSQL 15's programs are here; else [`need::missing`].
fn installed() -> bool {
    bin_dir().is_some()
        || need::missing(
            "PostgreSQL 15 (/usr/lib/postgresql/15/bin/initdb)",
            "apt-get install postgresql-15, or point SPARTAKUS_PG_BIN at its bin directory",
        )
}

/// Where PostgreSQL's programs are.
fn bin_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var("SPARTAKUS_PG_BIN").ok().map(PathBuf::from),
        Some(PathBuf::from("/usr/lib/postgresql/15/bin")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|dir| dir.join("initdb").exists())
}

impl PgServer {
    /// A server started by someone else (`postgres://postgres@127.0.0.1:PORT/postgres`), to
    /// make databases in; never stopped from here.
    pub fn running(url: &str) -> PgServer {
        let port = url
            .rsplit_once("127.0.0.1:")
            .and_then(|(_, rest)| rest.split('/').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!("SPARTAKUS_TEST_POSTGRES={url}: want postgres://postgres@127.0.0.1:PORT/postgres")
            });
        PgServer {
            port,
            dir: PathBuf::new(),
            bin: PathBuf::new(),
            as_postgres: false,
        }
    }

    /// `initdb`, configure, start; panics with the server's log if it does not come up.
    pub fn start(tls: Option<ServerTls>) -> PgServer {
        static N: AtomicUsize = AtomicUsize::new(0);
        let bin = bin_dir().expect("PostgreSQL 15's programs (ask pg_server::skipped first)");
        let dir = std::env::temp_dir().join(format!(
            "spartakus-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let server = PgServer {
            port: super::http::refused_port(),
            dir,
            bin,
            as_postgres: need::is_root(),
        };
        server.own(&server.dir);
        let data = server.data();
        server.run_ok(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        server.configure(tls);
        server.watchdog();
        server.start_again();
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Give `path` to the `postgres` user when running as root.
    fn own(&self, path: &Path) {
        if self.as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres", path.to_str().unwrap()])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown postgres {}", path.display());
        }
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run_ok(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    fn configure(&self, tls: Option<ServerTls>) {
        let data = self.data();
        let mut conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             max_connections = 300\nfsync = off\nfull_page_writes = off\n",
            self.port,
            self.dir.display()
        );
        if let Some(tls) = tls {
            std::fs::write(data.join("server.crt"), tls.cert_pem).unwrap();
            std::fs::write(data.join("server.key"), tls.key_pem).unwrap();
            let key = data.join("server.key");
            let mut perms = std::fs::metadata(&key).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
            std::fs::set_permissions(&key, perms).unwrap();
            conf.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        }
        let path = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&conf);
        std::fs::write(&path, text).unwrap();
        self.own(&data);
    }

    /// Stops the server and removes its directory once this test process has ended. It outlives
    /// this process by design, so nothing here waits for it.
    fn watchdog(&self) {
        let stop = if self.as_postgres {
            "runuser -u postgres --"
        } else {
            ""
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             {stop} {pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data().display(),
            dir = self.dir.display(),
        );
        let watchdog = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the PostgreSQL watchdog");
        std::mem::forget(watchdog);
    }

    /// Start (again, after [`PgServer::stop`]) and wait until it takes connections.
    pub fn start_again(&self) {
        let data = self.data();
        let log = self.dir.join("server.log");
        self.run_ok(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// Stop it now (`immediate`: as if it crashed).
    pub fn stop(&self) {
        let data = self.data();
        self.run_ok(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// The URL of the server's `postgres` database, with `params`.
    pub fn url(&self, database: &str, params: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}?{params}",
            self.port
        )
    }

    /// A new, empty database of its own, and its URL (`sslmode=disable`).
    pub fn fresh_url(&self) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let admin =
            spartakus::collector::store::PgUrl::parse(&self.url("postgres", "sslmode=disable"))
                .unwrap();
        let start = Instant::now();
        loop {
            use spartakus::collector::store::{Pg, sql::Conn};
            let created =
                Pg::connect(&admin).and_then(|mut c| c.batch(&format!("CREATE DATABASE {name}")));
            match created {
                Ok(()) => break,
                Err(e) if start.elapsed() < super::HANG_GUARD => {
                    eprintln!("creating database {name}: {e:#}; retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("creating database {name}: {e:#}\n{}", self.log()),
            }
        }
        self.url(&name, "sslmode=disable")
    }
}
