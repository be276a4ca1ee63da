//! Reading a received report: check it, then stream its nodes, one at a time.
//!
//! The shape accepted is the original spartakus report (`version`, `timestamp`, `clusterID`,
//! `masterVersion`, `nodes[]`, and the later `cloudProvider` and `extensions[]`), and this
//! project's optional `workloads` part (a few hundred bytes, read whole). The types of
//! [`super`] are read with serde's derive: unknown fields are skipped, duplicate fields refused,
//! `null` is accepted wherever a field is optional (Go encodes nil pointers and slices so). Only
//! the report object itself is walked by hand, so that its nodes go to a callback instead of a
//! list: [`check`] and [`for_each_node`] each hold one node at a time, so a report costs its
//! JSON bytes and little more.
//!
//! Structural faults refuse the report; optional values over their limits are clamped by the
//! rules of [`super::limits`] and counted (see there). An error names where it was found
//! (`nodes[3].osImage`).

use super::Json;
pub use super::decode::Invalid;
use super::limits::{self, Clamps, MAX_NODES};
use super::{Node, Report};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Most entries of a capacity or extensions list read at all: beyond the clamp limits
/// ([`limits::MAX_CAPACITY`], [`limits::MAX_EXTENSIONS`]) entries are folded or dropped, but a
/// list longer than this is nothing any reporter sends, and is refused.
pub(crate) const MAX_LIST: usize = 1024;

/// A checked report: its own fields (clamped; `nodes` empty; the workload part, if any, whole
/// and clamped in `report.workloads`), how many nodes it has, and what was clamped in all.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Checked {
    pub report: Report,
    pub nodes: usize,
    pub clamps: Clamps,
}

/// Check a report without keeping its nodes.
pub(crate) fn check(json: &Json) -> Result<Checked, Invalid> {
    let mut ids = Vec::new();
    let checked = read(json, &mut |_| true, Some(&mut ids))?;
    ids.sort_unstable();
    if let Some(pair) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(Invalid::Schema(format!(
            "node ID {:032x} appears more than once",
            pair[0]
        )));
    }
    Ok(checked)
}

/// Hand each node of a report [`check`] accepted to `f`, clamped, in order, one at a time;
/// stops at `f`'s first error and returns it.
pub(crate) fn for_each_node<E>(
    json: &Json,
    mut f: impl FnMut(usize, Node) -> Result<(), E>,
    invalid: impl FnOnce(Invalid) -> E,
) -> Result<(), E> {
    let mut failed = None;
    let mut index = 0;
    let walked = read(
        json,
        &mut |node| match f(index, node) {
            Ok(()) => {
                index += 1;
                true
            }
            Err(e) => {
                failed = Some(e);
                false
            }
        },
        None,
    );
    match (failed, walked) {
        (Some(e), _) => Err(e),
        (None, Err(e)) => Err(invalid(e)),
        (None, Ok(_)) => Ok(()),
    }
}

/// Check a whole report held in one slice, nodes included (a file to send, tests). The verdict
/// is the collector's, clamps and duplicate node IDs included.
pub fn parse(bytes: &[u8]) -> Result<(Report, Clamps), Invalid> {
    let json = super::decode::decode(bytes, false, limits::MAX_BODY_BYTES)?;
    let checked = check(&json)?;
    let mut nodes = Vec::with_capacity(checked.nodes);
    for_each_node(
        &json,
        |_, node| {
            nodes.push(node);
            Ok(())
        },
        |e| e,
    )?;
    let mut report = checked.report;
    report.nodes = nodes;
    Ok((report, checked.clamps))
}

/// One pass over the JSON. On a fault the pass is repeated with path tracking, so the error
/// says where (the common, valid case pays nothing for it).
fn read(
    json: &Json,
    on_node: &mut dyn FnMut(Node) -> bool,
    ids: Option<&mut Vec<u128>>,
) -> Result<Checked, Invalid> {
    let mut de = serde_json::Deserializer::from_reader(json.reader());
    let walked = ReportSeed { on_node, ids }
        .deserialize(&mut de)
        .and_then(|checked| de.end().map(|()| checked));
    match walked {
        Ok(checked) => finish(checked),
        Err(e) => Err(locate(json, e)),
    }
}

/// The error of a failed pass, with the path where it happened.
fn locate(json: &Json, error: serde_json::Error) -> Invalid {
    use serde_json::error::Category;
    if matches!(
        error.classify(),
        Category::Syntax | Category::Eof | Category::Io
    ) {
        return Invalid::Syntax(error.to_string());
    }
    let mut track = serde_path_to_error::Track::new();
    let mut de = serde_json::Deserializer::from_reader(json.reader());
    let seed = ReportSeed {
        on_node: &mut |_| true,
        ids: None,
    };
    let again = seed.deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track));
    let path = track.path().to_string();
    let message = match again {
        Err(e) if path != "." && !e.to_string().contains("nodes[") => format!("{path}: {e}"),
        _ => error.to_string(),
    };
    Invalid::Schema(message)
}

/// The required values, checked once the report is read.
fn finish(mut checked: Checked) -> Result<Checked, Invalid> {
    let report = &checked.report;
    limits::check_version(&report.version).map_err(|e| Invalid::Schema(format!("version {e}")))?;
    limits::check_cluster_id(&report.cluster_id)
        .map_err(|e| Invalid::Schema(format!("clusterID {e}")))?;
    limits::clamp_header(&mut checked.report, &mut checked.clamps);
    Ok(checked)
}

/// The report object's keys. The names are [`Report`]'s own (a test holds them in step).
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum Key {
    Version,
    Timestamp,
    #[serde(rename = "clusterID")]
    ClusterId,
    MasterVersion,
    Nodes,
    Extensions,
    Workloads,
    #[serde(other)]
    Unknown,
}

/// The report object; each node goes to `on_node` (which returns `false` to stop the pass).
struct ReportSeed<'a> {
    on_node: &'a mut dyn FnMut(Node) -> bool,
    /// Where node IDs are collected to find duplicates (when checking).
    ids: Option<&'a mut Vec<u128>>,
}

impl<'de> DeserializeSeed<'de> for ReportSeed<'_> {
    type Value = Checked;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Checked, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ReportSeed<'_> {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a report object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        let mut seen = [false; 7];
        let mut report = Report::default();
        let mut nodes = (0, Clamps::default());
        let ReportSeed { on_node, mut ids } = self;
        while let Some(key) = map.next_key::<Key>()? {
            let (index, name) = match key {
                Key::Version => (0, "version"),
                Key::Timestamp => (1, "timestamp"),
                Key::ClusterId => (2, "clusterID"),
                Key::MasterVersion => (3, "masterVersion"),
                Key::Nodes => (4, "nodes"),
                Key::Extensions => (5, "extensions"),
                Key::Workloads => (6, "workloads"),
                Key::Unknown => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if std::mem::replace(&mut seen[index], true) {
                return Err(de::Error::duplicate_field(name));
            }
            match key {
                Key::Version => report.version = map.next_value()?,
                Key::Timestamp => {
                    report.timestamp = map.next_value::<Option<String>>()?.unwrap_or_default()
                }
                Key::ClusterId => report.cluster_id = map.next_value()?,
                Key::MasterVersion => report.master_version = map.next_value()?,
                Key::Nodes => {
                    nodes = map.next_value_seed(NodesSeed {
                        on_node: &mut *on_node,
                        ids: ids.as_deref_mut(),
                    })?
                }
                Key::Workloads => report.workloads = map.next_value()?,
                _ => report.extensions = map.next_value_seed(Bounded(std::marker::PhantomData))?,
            }
        }
        for (index, name) in [(0, "version"), (2, "clusterID")] {
            if !seen[index] {
                return Err(de::Error::missing_field(name));
            }
        }
        Ok(Checked {
            report,
            nodes: nodes.0,
            clamps: nodes.1,
        })
    }
}

/// `null` or a list of at most [`MAX_LIST`] entries (serde's `deserialize_with` for [`Node`]'s
/// capacity, and the report's extensions).
pub(crate) fn bounded_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Bounded(std::marker::PhantomData).deserialize(d)
}

struct Bounded<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Bounded<T> {
    type Value = Vec<T>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Bounded<T> {
    type Value = Vec<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a list (or null) of at most {MAX_LIST} entries")
    }
    fn visit_none<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Vec<T>, S::Error> {
        let mut out = Vec::new();
        while let Some(entry) = seq.next_element()? {
            if out.len() == MAX_LIST {
                return Err(de::Error::custom(format_args!(
                    "more than {MAX_LIST} entries in a list"
                )));
            }
            out.push(entry);
        }
        Ok(out)
    }
}

/// The `nodes` list (or `null`): each node checked, clamped and handed on; at most
/// [`MAX_NODES`]. The value is the node count and the nodes' clamps.
struct NodesSeed<'a> {
    on_node: &'a mut dyn FnMut(Node) -> bool,
    ids: Option<&'a mut Vec<u128>>,
}

impl<'de> DeserializeSeed<'de> for NodesSeed<'_> {
    type Value = (usize, Clamps);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for NodesSeed<'_> {
    type Value = (usize, Clamps);
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list or null for `nodes`")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok((0, Clamps::default()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok((0, Clamps::default()))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<S: SeqAccess<'de>>(mut self, mut seq: S) -> Result<Self::Value, S::Error> {
        let mut clamps = Clamps::default();
        let mut count = 0;
        while let Some(mut node) = seq.next_element::<Node>()? {
            if count == MAX_NODES {
                return Err(de::Error::custom(format_args!(
                    "more than {MAX_NODES} entries in `nodes`"
                )));
            }
            let Some(id) = limits::parse_node_id(&node.id) else {
                return Err(de::Error::custom(format_args!(
                    "nodes[{count}].id must be {} lowercase hex characters",
                    limits::NODE_ID_HEX
                )));
            };
            if let Some(ids) = self.ids.as_deref_mut() {
                ids.push(id);
            }
            limits::clamp_node(&mut node, &mut clamps);
            if !(self.on_node)(node) {
                return Err(de::Error::custom("stopped"));
            }
            count += 1;
        }
        Ok((count, clamps))
    }
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
