//! Writing a report as JSON, one node at a time, to any writer (a gzip encoder in the reporter,
//! the collector's `stdout` store, a `Vec` in tests), so a report of any size is never held
//! whole. The extensions and the workload part follow the nodes. Every value goes through the clamp rules of [`super::limits`] first: what is written is
//! always within the limits a collector checks, and reads back exactly as written.

use super::limits::{self, Clamps};
use super::{Node, Report, Workloads};
use std::io::{self, Write};

/// Writes one report. The bytes are those of `serde_json::to_vec` of the whole [`Report`] (the
/// same field order and omissions), after clamping.
pub struct ReportWriter<W: Write> {
    out: W,
    nodes: usize,
    header: Report,
    clamps: Clamps,
    /// Written after the report's closing brace (closes a [`ReportWriter::line`]).
    suffix: &'static [u8],
}

impl<W: Write> ReportWriter<W> {
    /// Writes the report's own fields from `header` (its `nodes` are ignored) and opens the
    /// node list.
    pub fn start(out: W, header: &Report) -> io::Result<Self> {
        Self::open(out, header, b"")
    }

    /// One report as a line of JSON lines: `{"receivedAt":"<time>","report":{...}}` and a
    /// newline (the collector's `stdout` store and exports).
    pub fn line(mut out: W, received_at: &str, header: &Report) -> io::Result<Self> {
        out.write_all(b"{\"receivedAt\":")?;
        serde_json::to_writer(&mut out, received_at)?;
        out.write_all(b",\"report\":")?;
        Self::open(out, header, b"}\n")
    }

    fn open(mut out: W, header: &Report, suffix: &'static [u8]) -> io::Result<Self> {
        let mut clamps = Clamps::default();
        let mut header = Report {
            nodes: Vec::new(),
            ..header.clone()
        };
        limits::clamp_header(&mut header, &mut clamps);
        let own = Report {
            extensions: Vec::new(),
            workloads: None,
            ..header.clone()
        };
        let mut text = serde_json::to_vec(&own)?;
        text.pop(); // the closing brace: nodes and extensions follow
        out.write_all(&text)?;
        Ok(ReportWriter {
            out,
            nodes: 0,
            header,
            clamps,
            suffix,
        })
    }

    /// Appends one node, clamped.
    pub fn node(&mut self, mut node: Node) -> io::Result<()> {
        limits::clamp_node(&mut node, &mut self.clamps);
        self.out.write_all(if self.nodes == 0 {
            b",\"nodes\":["
        } else {
            b","
        })?;
        serde_json::to_writer(&mut self.out, &node)?;
        self.nodes += 1;
        Ok(())
    }

    /// Sets the workload part (clamped), written after the nodes: the reporter knows it only
    /// once the nodes are listed.
    pub fn set_workloads(&mut self, mut workloads: Option<Workloads>) {
        limits::clamp_workloads(&mut workloads, &mut self.clamps);
        self.header.workloads = workloads;
    }

    /// How many nodes were written so far.
    pub fn node_count(&self) -> usize {
        self.nodes
    }

    /// The values clamped so far.
    pub fn clamps(&self) -> &Clamps {
        &self.clamps
    }

    /// Closes the node list, writes the extensions and the workload part, and returns the
    /// writer.
    pub fn finish(mut self) -> io::Result<W> {
        if self.nodes > 0 {
            self.out.write_all(b"]")?;
        }
        if !self.header.extensions.is_empty() {
            self.out.write_all(b",\"extensions\":")?;
            serde_json::to_writer(&mut self.out, &self.header.extensions)?;
        }
        if let Some(workloads) = &self.header.workloads {
            self.out.write_all(b",\"workloads\":")?;
            serde_json::to_writer(&mut self.out, workloads)?;
        }
        self.out.write_all(b"}")?;
        self.out.write_all(self.suffix)?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::limits::{Field, MAX_CAPACITY, MAX_STRING_CHARS, WORKLOAD_BUCKETS};
    use crate::contract::{Extension, FORMAT_VERSION, KindStats, NodeFacts, Resource, build_node};

    fn header() -> Report {
        Report {
            version: FORMAT_VERSION.into(),
            timestamp: "1700000000".into(),
            cluster_id: "c0ffee00-0000-4000-8000-000000000000".into(),
            master_version: Some("v1.33.2".into()),
            ..Report::default()
        }
    }

    fn workloads() -> Workloads {
        Workloads {
            pods: Some(KindStats {
                total: 3,
                per_namespace: vec![2, 1, 1],
                age: None,
            }),
            ..Workloads::default()
        }
    }

    fn write(header: &Report, nodes: &[Node]) -> Vec<u8> {
        let mut w = ReportWriter::start(Vec::new(), header).unwrap();
        for n in nodes {
            w.node(n.clone()).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn output_parses_back_and_omits_empty_parts() {
        let bare = Report {
            master_version: None,
            ..header()
        };
        let text = String::from_utf8(write(&bare, &[])).unwrap();
        assert_eq!(
            text,
            r#"{"version":"v1.0.0","timestamp":"1700000000","clusterID":"c0ffee00-0000-4000-8000-000000000000"}"#
        );

        let nodes = vec![
            build_node(&NodeFacts::default(), "1".repeat(32)),
            build_node(&NodeFacts::default(), "2".repeat(32)),
        ];
        let mut h = header();
        h.extensions = vec![Extension {
            name: "example.com/tier".into(),
            value: "gold".into(),
        }];
        h.workloads = Some(workloads());
        let bytes = write(&h, &nodes);
        let report: Report = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(report.nodes, nodes);
        assert_eq!(report.extensions, h.extensions);
        assert_eq!(report.workloads, h.workloads);
        assert!(bytes.ends_with(br#"],"workloads":{"pods":{"total":3,"perNamespace":[2,1,1]}}}"#));
        // Same bytes as serializing the whole struct at once.
        assert_eq!(serde_json::to_vec(&report).unwrap(), bytes);
    }

    #[test]
    fn values_over_the_limits_are_clamped_and_counted() {
        let node = Node {
            id: "a".repeat(32),
            os_image: Some("é".repeat(MAX_STRING_CHARS + 10)),
            capacity: (0..MAX_CAPACITY + 6)
                .map(|i| Resource {
                    resource: format!("hugepages-{i}Mi"),
                    value: "0".into(),
                })
                .collect(),
            ..Node::default()
        };
        let mut h = header();
        h.master_version = Some("v1.33.2\u{7}".into());
        let mut w = ReportWriter::start(Vec::new(), &h).unwrap();
        w.node(node).unwrap();
        let clamps = *w.clamps();
        let bytes = w.finish().unwrap();
        let report: Report = serde_json::from_slice(&bytes).unwrap();
        let n = &report.nodes[0];
        assert_eq!(
            n.os_image.as_ref().unwrap().chars().count(),
            MAX_STRING_CHARS
        );
        assert_eq!(n.capacity.len(), MAX_CAPACITY);
        assert_eq!(
            n.capacity
                .iter()
                .find(|r| r.resource == "other")
                .unwrap()
                .value,
            "7"
        );
        assert_eq!(report.master_version.as_deref(), Some("v1.33.2\u{FFFD}"));
        assert_eq!(clamps.get(Field::OsImage), 1);
        assert_eq!(clamps.get(Field::Capacity), 7);
        assert_eq!(clamps.get(Field::MasterVersion), 1);
    }

    #[test]
    fn a_line_frames_the_report() {
        let mut w = ReportWriter::line(Vec::new(), "2026-12-01T00:00:00Z", &header()).unwrap();
        w.node(build_node(&NodeFacts::default(), "3".repeat(32)))
            .unwrap();
        let bytes = w.finish().unwrap();
        assert!(bytes.ends_with(b"}}\n"));
        let line: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(line["receivedAt"], "2026-12-01T00:00:00Z");
        assert_eq!(line["report"]["nodes"][0]["id"], "3".repeat(32));
    }

    /// The workload part set after the nodes is clamped by the same rules as the header's, and
    /// an empty one is not written at all.
    #[test]
    fn workloads_set_late_are_clamped_and_empty_ones_left_out() {
        let header = Report {
            version: FORMAT_VERSION.into(),
            cluster_id: "c".into(),
            ..Report::default()
        };
        let mut w = ReportWriter::start(Vec::new(), &header).unwrap();
        w.set_workloads(Some(Workloads::default()));
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"version":"v1.0.0","timestamp":"","clusterID":"c"}"#
        );

        let mut w = ReportWriter::start(Vec::new(), &header).unwrap();
        w.set_workloads(Some(Workloads {
            jobs: Some(KindStats {
                total: 1,
                per_namespace: vec![1; WORKLOAD_BUCKETS + 1],
                age: None,
            }),
            ..Workloads::default()
        }));
        assert_eq!(w.clamps().get(Field::WorkloadBuckets), 1);
        let report: Report = serde_json::from_slice(&w.finish().unwrap()).unwrap();
        let jobs = report.workloads.unwrap().jobs.unwrap();
        assert_eq!(jobs.per_namespace.len(), WORKLOAD_BUCKETS);
        assert_eq!(jobs.per_namespace[WORKLOAD_BUCKETS - 1], 2);
    }
}
