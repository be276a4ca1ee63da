//! The report contract: the one place that knows what a report is, for both programs.
//!
//! - This module: the types as they travel ([`Report`], [`Node`], [`Resource`], [`Extension`]),
//!   which serde derives both ways. Nothing outside `contract` spells a field name of the report.
//! - [`limits`]: every limit, each defined once, and the clamp rules that both sides apply: the
//!   reporter never writes what the collector would refuse, and the collector keeps a report
//!   whose only faults are in optional values (cut to their limits, and counted).
//! - [`anonymize`]: what a Node may become in a report (opaque IDs, allowlisted providers and
//!   resource names).
//! - [`workloads`]: the optional workload part (counts of namespaces and objects, how they spread
//!   over namespaces, ages in days), additive to the v1 format.
//! - [`write`]: the streaming writer, one node at a time.
//! - [`schema`]: the report as a JSON Schema, published as `docs/report.schema.json`.
//! - [`decode`] and [`read`]: the collector's side. A body is decompressed as it arrives into
//!   memory the caller pays for, then checked and streamed one node at a time.
//!
//! Pure: no I/O, no clock, no randomness (callers pass them in).

pub mod anonymize;
pub(crate) mod decode;
pub mod limits;
pub(crate) mod read;
pub mod schema;
pub(crate) mod workloads;
pub(crate) mod write;

#[doc(hidden)]
pub mod testing;

use serde::{Deserialize, Serialize};

pub use anonymize::{NodeFacts, build_node, node_id};

pub(crate) use anonymize::random_node_id;
pub use decode::Stop;
pub(crate) use decode::{Decoder, Json};
pub use limits::Clamps;
pub(crate) use read::check;
pub(crate) use read::{Checked, for_each_node};
pub use read::{Invalid, parse};
pub use workloads::{Ages, ObjectKind};
pub(crate) use workloads::{KindStats, Workloads};
pub use write::ReportWriter;

/// The report format version, as the original spartakus sent it.
pub const FORMAT_VERSION: &str = "v1.0.0";

/// A whole report as it travels. Unknown fields are ignored when reading, as the original did;
/// empty optional parts are left out when writing.
///
/// The reporter streams it with [`ReportWriter`] (a report with empty `nodes` is the header it
/// starts from); the collector reads it with [`check`] and [`for_each_node`], never whole.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub version: String,
    #[serde(default)]
    pub timestamp: String,
    #[serde(rename = "clusterID")]
    pub cluster_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_version: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<Node>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "read::bounded_list"
    )]
    pub extensions: Vec<Extension>,
    /// The optional workload statistics (`--workload-stats`); last, after the nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workloads: Option<Workloads>,
}

/// One node, anonymized.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_runtime_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubelet_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_provider: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "read::bounded_list"
    )]
    pub capacity: Vec<Resource>,
}

/// One capacity entry: a resource name and its quantity exactly as the API gave it.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Resource {
    pub resource: String,
    pub value: String,
}

/// One operator-chosen extension.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Extension {
    pub name: String,
    pub value: String,
}

impl Report {
    /// The report without its nodes: what [`ReportWriter::start`] takes and [`check`] returns
    /// (with the workload part, which [`check`] reads whole: it is a few hundred bytes).
    pub fn header(&self) -> Report {
        Report {
            nodes: Vec::new(),
            ..self.clone()
        }
    }
}

impl Node {
    /// The optional text fields, with the names [`Clamps`] counts them by.
    pub(crate) fn texts_mut(&mut self) -> [(limits::Field, &mut Option<String>); 7] {
        use limits::Field as F;
        [
            (F::OperatingSystem, &mut self.operating_system),
            (F::OsImage, &mut self.os_image),
            (F::KernelVersion, &mut self.kernel_version),
            (F::Architecture, &mut self.architecture),
            (
                F::ContainerRuntimeVersion,
                &mut self.container_runtime_version,
            ),
            (F::KubeletVersion, &mut self.kubelet_version),
            (F::CloudProvider, &mut self.cloud_provider),
        ]
    }
}
