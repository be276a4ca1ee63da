//! The store's readers as a server holds them, on either store: the dashboard's two and the
//! collector's own (the fleet gauges, the clusters it knows). Each server stops with the exit
//! code its help gives on SIGTERM, and after a PostgreSQL restart the dashboard and the gauges
//! serve again by themselves.

use crate::support::collect::{Collector, TempDir, report};
use crate::support::{HANG_GUARD, pg_server, wait_until};
use std::time::Instant;

/// The stores to try: a SQLite file, and a database of the shared PostgreSQL server (when
/// there is one).
fn stores(dir: &TempDir) -> Vec<String> {
    let mut stores = vec![dir.join("s.db").to_str().unwrap().to_string()];
    if let Some(server) = pg_server::shared() {
        stores.push(server.fresh_url());
    }
    stores
}

/// SIGTERM stops `collect` and `dashboard` with 0, as their help says, once they have read the
/// store (a PostgreSQL reader dropped inside the server's runtime made the dashboard abort,
/// exit 134).
#[test]
fn servers_exit_0_on_sigterm_on_either_store() {
    let dir = TempDir::new("readers-sigterm");
    for store in stores(&dir) {
        let mut c = Collector::start(&store, &["--rate-limit", "0"]);
        assert_eq!(c.post(report("a", 3).as_bytes(), &[]).status, 204);
        assert!(
            c.get("/metrics")
                .text()
                .contains("spartakus_fleet_clusters 1")
        );
        let mut d = Collector::dashboard(&store);
        assert_eq!(d.get("/").status, 200, "{}", d.log());
        for (name, server) in [("collect", &mut c), ("dashboard", &mut d)] {
            server.signal("-TERM");
            let status = server.wait(HANG_GUARD).expect("it stops");
            assert_eq!(
                status.code(),
                Some(0),
                "{name} on {store}: {}",
                server.log()
            );
            assert!(!server.log().contains("panicked"), "{}", server.log());
        }
    }
}

/// The database goes away and comes back: the dashboard's page and the collector's fleet gauges
/// are made again by themselves, without a restart of either.
#[test]
fn the_dashboard_and_the_fleet_gauges_come_back_after_a_postgres_restart() {
    if pg_server::skipped() {
        return;
    }
    let server = pg_server::PgServer::start(None);
    let url = server.fresh_url();
    let c = Collector::start(&url, &["--rate-limit", "0"]);
    assert_eq!(c.post(report("a", 3).as_bytes(), &[]).status, 204);
    // Neither has made anything yet: nothing is cached to serve in the meantime.
    let d = Collector::dashboard(&url);

    server.stop();
    assert_eq!(d.get("/").status, 503, "{}", d.log());
    assert!(!c.get("/metrics").text().contains("spartakus_fleet_"));
    server.start_again();
    let back = Instant::now();
    wait_until("the dashboard's page again", || d.get("/").status == 200);
    wait_until("the fleet gauges again", || {
        c.get("/metrics")
            .text()
            .contains("spartakus_fleet_clusters 1")
    });
    eprintln!("both serving again {:?} after the database", back.elapsed());
    assert!(
        c.log()
            .contains("fleet gauges: the store can be read again"),
        "{}",
        c.log()
    );
    // And the collector stores again.
    wait_until("a report stored again", || {
        c.post(report("b", 2).as_bytes(), &[]).status == 204
    });
}
