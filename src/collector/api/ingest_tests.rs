//! Tests of the report endpoint's pure parts.

use super::*;
use crate::contract::testing::report_json;

#[test]
fn content_types_and_encodings() {
    for ok in [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        " application/json ;charset=UTF-8",
    ] {
        assert!(is_json(&HeaderValue::from_static(ok)), "{ok}");
    }
    for bad in [
        "text/plain",
        "application/jsonx",
        "application/x-www-form-urlencoded",
        "",
    ] {
        assert!(!is_json(&HeaderValue::from_static(bad)), "{bad}");
    }
    let enc = |values: &[&'static str]| {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::CONTENT_ENCODING, HeaderValue::from_static(v));
        }
        gzip_encoding(&h)
    };
    assert_eq!(enc(&[]), Some(false));
    assert_eq!(enc(&["identity"]), Some(false));
    assert_eq!(enc(&["gzip"]), Some(true));
    assert_eq!(enc(&["GZip"]), Some(true));
    assert_eq!(enc(&["x-gzip"]), Some(true));
    assert_eq!(enc(&["identity, gzip"]), Some(true));
    assert_eq!(enc(&["br"]), None);
    assert_eq!(enc(&["deflate"]), None);
    assert_eq!(enc(&["gzip", "gzip"]), None, "twice compressed");
}

/// The nodes the store reads from received JSON are those of the report, clamped.
#[test]
fn received_json_gives_the_reports_nodes() {
    let bytes = report_json("c", 3);
    let json = contract::decode::decode(&bytes, false, 1 << 20).unwrap();
    let received = Received {
        json,
        nodes: 3,
        _lease: None,
    };
    let mut ids = Vec::new();
    received
        .for_each(&mut |i, n| {
            ids.push((i, n.id));
            Ok(())
        })
        .unwrap();
    let want: Vec<(usize, String)> = (0..3).map(|i| (i, format!("{i:032x}"))).collect();
    assert_eq!(ids, want);
    let whole: contract::Report = serde_json::from_slice(&bytes).unwrap();
    let mut nodes = Vec::new();
    received
        .for_each(&mut |_, n| {
            nodes.push(n);
            Ok(())
        })
        .unwrap();
    assert_eq!(nodes, whole.nodes);
    // The callback's error stops the walk and comes back as it was.
    let mut seen = 0;
    let stopped = received.for_each(&mut |_, _| {
        seen += 1;
        anyhow::ensure!(seen < 2, "full");
        Ok(())
    });
    assert_eq!((stopped.unwrap_err().to_string(), seen), ("full".into(), 2));
}
