//! A store made by the previous release (schema version 4, its profiles as JSON) migrated to
//! this one on both stores: the profiles moved into `profile_values` as this version keeps them
//! (at most 16 values per category, the rest as `other`, the version skew worked out), the JSON
//! dropped, and the fleet read as before.

use super::{store_at, stores};
use spartakus::collector::fleet::trends::Every;
use spartakus::collector::fleet::{Dimension, Label};
use spartakus::collector::store::read::{self, Scope};
use spartakus::collector::store::{Reader, Sink, schema};
use spartakus::time::days_from_civil;

const DAY: i64 = 86_400;

/// Cluster a's profile as version 4 stored it: 3,227 nodes, 41 OS image families (Distro00 the
/// largest), kubelets 900 three minors behind; b's: one node of `(not reported)` image.
fn profiles() -> [(String, String); 2] {
    let mut images = String::new();
    for i in 0..40 {
        images.push_str(&format!(r#""Distro{i:02}":{},"#, 100 - i));
    }
    images.push_str(r#""Other 1":7"#);
    let a = format!(
        r#"{{"nodes":3227,"values":{{"kubernetes_version":{{"v1.33":3227}},"kubelet_version":{{"v1.33":2327,"v1.30":900}},"os_image":{{{images}}},"architecture":{{"amd64":3227}}}}}}"#
    );
    let b = r#"{"nodes":1,"values":{"kubernetes_version":{"(not reported)":1},"os_image":{"(not reported)":1}}}"#;
    [("a".repeat(64), a), ("b".repeat(64), b.to_string())]
}

#[test]
fn a_version_4_store_keeps_its_history() {
    let mon = days_from_civil(2026, 11, 30) * DAY;
    for (spec, _dir) in stores("migrate-4") {
        let mut db = store_at(&spec, 4);
        for (cluster, (key, json)) in ["a", "b"].iter().zip(profiles()) {
            db(&format!(
                "INSERT INTO profiles (sha256, profile) VALUES ('{key}', '{json}')"
            ));
            for (every, start) in [(1, mon), (7, mon), (30, Every::Month.start(mon))] {
                db(&format!(
                    "INSERT INTO cluster_periods (every, period_start, cluster_id, received_at,
                        master_version, report_count, profile)
                     VALUES ({every}, {start}, '{cluster}', {}, 'v1.33.2', 1, '{key}')",
                    mon + 3600
                ));
            }
        }
        drop(db);
        // The collector migrates it on start.
        drop(Sink::open(&spec, 0).unwrap());
        let mut reader = Reader::open(&spec).unwrap();
        let conn = reader.conn().unwrap();
        assert!(
            conn.query("SELECT COUNT(*) FROM profiles", &[]).is_err(),
            "the JSON profiles are gone: {spec}"
        );
        let now = read::current(conn, mon + DAY, 7, 10).unwrap();
        assert_eq!((now.tally.clusters, now.tally.nodes), (2, 3228), "{spec}");
        let images = now.tally.entries(Dimension::OsImage);
        assert_eq!(images.len(), 10 + 1, "{images:?}");
        assert_eq!(images[0].label, Label::Value("Distro00".into()));
        assert_eq!(images[0].nodes, 100);
        let other = now.tally.get(Dimension::OsImage, &Label::Other).unwrap();
        // a's Distro10 to Distro39 and `Other 1` (past the top 10, and past the 16 kept), and
        // b's node without an image.
        let all = (100 + 61) * 40 / 2 + 7;
        let shown = (100 + 91) * 10 / 2;
        assert_eq!(
            (other.clusters, other.nodes),
            (2, all - shown + 1),
            "{spec}"
        );
        let skew = |v: &str| {
            let e = now
                .tally
                .get(Dimension::VersionSkew, &Label::Value(v.into()));
            e.map(|e| (e.clusters, e.nodes))
        };
        assert_eq!(skew("3+"), Some((1, 900)), "a's worst: {spec}");
        assert_eq!(skew("0"), Some((0, 2327)));
        assert_eq!(skew("unknown"), Some((1, 1)), "b's one node");
        let versions = now.tally.entries(Dimension::KubernetesVersion);
        assert_eq!(versions[0].label, Label::Value("v1.33".into()));
        assert_eq!(versions[1].label, Label::NotReported, "not a value: {spec}");
        let trend = read::trend(conn, Every::Week, (mon, mon), None, Scope::All, 5).unwrap();
        assert_eq!(trend.periods[0].tally.clusters, 2, "{spec}");
        let version = conn
            .query_int("SELECT MAX(version) FROM schema_migrations", &[])
            .unwrap();
        assert_eq!(version, schema::version());
    }
}
