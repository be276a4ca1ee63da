//! A PostgreSQL store as `--store` names it, refused: whatever the URL's shape, no message
//! shows its password or any part of the URL that may hold it, and the rest of the message is
//! left readable; a role the database refuses a privilege is a configuration error (exit 2,
//! not 1, which Kubernetes would restart forever).

use crate::support::collect::{TempDir, spartakus};
use crate::support::pg_server;

/// Every command that takes `--store`, run on `store`: (command, exit code, stderr).
fn every_command(store: &str, dir: &TempDir) -> Vec<(&'static str, Option<i32>, String)> {
    let copy = dir.join("copy.db");
    let commands: [(&str, Vec<&str>); 5] = [
        ("collect", vec!["collect", "--listen", "127.0.0.1:0"]),
        ("summary", vec!["summary"]),
        ("export", vec!["export"]),
        ("dashboard", vec!["dashboard", "--listen", "127.0.0.1:0"]),
        ("backup", vec!["backup", "--to", copy.to_str().unwrap()]),
    ];
    commands
        .into_iter()
        .map(|(name, mut args)| {
            args.extend(["--store", store]);
            let out = spartakus(&args);
            let err = String::from_utf8_lossy(&out.stderr).to_string();
            (name, out.status.code(), err)
        })
        .collect()
}

#[test]
fn no_message_shows_a_password_whatever_the_urls_shape() {
    let dir = TempDir::new("store-urls");
    // A generated password with `/` (and `=`, `+`), a store that cannot be reached; the same
    // without its `@`; and one with `?` and `#`.
    for (url, secrets) in [
        (
            "postgres://spartakus:Ab+c/dEf==@127.0.0.1:1/db",
            ["Ab+c", "dEf=="],
        ),
        (
            "postgres://spartakus:Ab+c/dEf==127.0.0.1/db",
            ["Ab+c", "dEf=="],
        ),
        (
            "postgresql://spartakus:g?h#i@127.0.0.1:1/db",
            ["g?h", "h#i"],
        ),
    ] {
        for (command, code, err) in every_command(url, &dir) {
            for secret in secrets {
                assert!(!err.contains(secret), "{command} {url}: {err}");
            }
            assert!(!err.contains(url), "{command} {url}: the whole URL: {err}");
            assert!(
                matches!(code, Some(1 | 2)),
                "{command} {url}: {code:?} {err}"
            );
            assert_eq!(err.trim_end().lines().count(), 1, "{command} {url}: {err}");
            assert!(!err.contains("not a port number"), "{command}: {err}");
        }
    }
}

/// With the password `a`, a message from the database is not starred wherever an `a` is.
#[test]
fn a_message_from_the_database_stays_readable() {
    let Some(server) = pg_server::shared() else {
        return;
    };
    let url = format!(
        "postgres://postgres:a@127.0.0.1:{}/no_such_database?sslmode=disable",
        server.port
    );
    let out = spartakus(&["summary", "--store", &url]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(r#"database "no_such_database" does not exist"#),
        "{err}"
    );
    assert!(err.contains("postgres:****@127.0.0.1"), "{err}");
}

/// A role without `CREATE` on the database's schema cannot create the store's tables: that is
/// for the operator to grant (exit 2), and the message says what was refused.
#[test]
fn a_role_without_create_is_a_configuration_error() {
    let Some(server) = pg_server::shared() else {
        return;
    };
    let url = server.fresh_url();
    let database = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let role = format!("nocreate_{}", std::process::id());
    {
        use spartakus::collector::store::{Pg, PgUrl, sql::Conn};
        let mut admin = Pg::connect(&PgUrl::parse(&url).unwrap()).unwrap();
        admin
            .batch(&format!(
                "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN;
                 REVOKE CREATE ON SCHEMA public FROM PUBLIC;"
            ))
            .unwrap();
    }
    let store = format!(
        "postgres://{role}@127.0.0.1:{}/{database}?sslmode=disable",
        server.port
    );
    let out = spartakus(&["collect", "--listen", "127.0.0.1:0", "--store", &store]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        err.matches("permission denied").count(),
        1,
        "said once: {err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
