//! The bytes a report is written as, pinned: a NodeList of every stand-in shape (a committed
//! fixture, so the input never drifts with the generator) goes through the whole pure pipeline
//! (streamed scan, anonymizing, writing) and must give exactly the committed report.
//! `SPARTAKUS_BLESS=1 cargo test --test integration golden::` rewrites the fixtures.

use crate::support;
use spartakus::contract::{
    Extension, FORMAT_VERSION, NodeFacts, Report, ReportWriter, build_node, node_id,
};
use spartakus::reporter::nodelist::{ListScanner, Piece};
use std::path::Path;

const NODES: &str = "tests/fixtures/golden-nodelist.json";
const REPORT: &str = "tests/fixtures/golden-report.json";
const CLUSTER_ID: &str = "6f1c2a9e-7d3b-4e5f-8a1b-2c3d4e5f6a7b";

fn nodelist() -> String {
    let mut out = String::from(
        r#"{"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"4711"},"items":["#,
    );
    for i in 0..24 {
        if i > 0 {
            out.push(',');
        }
        support::nodes::write_list_item(&mut out, i);
    }
    out.push_str("]}\n");
    out
}

fn write_report(list: &[u8]) -> Vec<u8> {
    let header = Report {
        version: FORMAT_VERSION.into(),
        timestamp: "1795000000".into(),
        cluster_id: CLUSTER_ID.into(),
        master_version: Some("v1.33.2".into()),
        extensions: vec![Extension {
            name: "example.com/tier".into(),
            value: "gold".into(),
        }],
        ..Report::default()
    };
    let mut writer = ReportWriter::start(Vec::new(), &header).unwrap();
    let mut scanner = ListScanner::new();
    let mut emit = |piece: Piece<'_>| -> anyhow::Result<()> {
        if let Piece::Item(bytes) = piece {
            let facts: NodeFacts = serde_json::from_slice(bytes)?;
            let id = node_id(CLUSTER_ID, facts.metadata.uid.as_deref().unwrap_or("")).unwrap();
            writer.node(build_node(&facts, id))?;
        }
        Ok(())
    };
    // Fed in odd-sized pieces, as a network would.
    for piece in list.chunks(4093) {
        scanner.feed(piece, &mut emit).unwrap();
    }
    scanner.finish(&mut emit).unwrap();
    let mut bytes = writer.finish().unwrap();
    bytes.push(b'\n');
    bytes
}

#[test]
fn the_report_bytes_are_pinned() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("SPARTAKUS_BLESS").is_some() {
        let list = nodelist();
        std::fs::write(root.join(NODES), &list).unwrap();
        std::fs::write(root.join(REPORT), write_report(list.as_bytes())).unwrap();
    }
    let list = std::fs::read(root.join(NODES)).unwrap();
    let want = std::fs::read(root.join(REPORT)).unwrap();
    let got = write_report(&list);
    assert!(
        got == want,
        "the report written from {NODES} differs from {REPORT}:\n{}",
        String::from_utf8_lossy(&got)
    );
}
