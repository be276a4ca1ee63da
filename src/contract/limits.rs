//! Every limit of a report, each defined once, and the rules that keep a report within them.
//!
//! Two kinds of fault:
//! - **Structural** (not JSON, wrong types, a missing or malformed `version`, `clusterID` or node
//!   `id`, duplicate node IDs, over the size or node limits): the report is refused.
//! - **Optional values** over their limits (a long OS image, control characters, too many
//!   capacity entries or extensions): the value is clamped by the rules here, and the fault is
//!   counted in [`Clamps`]. The reporter applies these rules when writing, so it never sends
//!   what a collector would cut; the collector applies the same rules when reading, so a report
//!   from any reporter is kept rather than lost over an optional value.

use super::{Ages, Extension, KindStats, Node, Report, Resource, Workloads};
use std::fmt;

/// Largest request body as sent (compressed or not), and largest report once decompressed. The
/// largest clusters (65,000 nodes) send about 34 MB of JSON as this project's reporter writes it.
pub const MAX_BODY_BYTES: usize = 48 * 1024 * 1024;
/// Longest JSON string (key or value, known field or not) in a received body, in bytes as sent,
/// escapes included. Longer is refused before it is buffered: no value of a report comes close
/// (at most 256 characters, 3 KiB even if every character were escaped).
pub(crate) const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// Most nodes in one report (upstream Kubernetes scales to 5,000; managed offerings to 65,000).
pub const MAX_NODES: usize = 100_000;
/// Longest cluster ID, in characters.
pub const MAX_CLUSTER_ID_CHARS: usize = 128;
/// Longest value of every other text field, in characters.
pub const MAX_STRING_CHARS: usize = 256;
/// Most capacity entries of one node; more are folded into the `other` entry.
pub const MAX_CAPACITY: usize = 64;
/// Most extensions in one report.
pub const MAX_EXTENSIONS: usize = 100;
/// Longest prefix of an extension name (a DNS subdomain).
pub(crate) const MAX_EXTENSION_PREFIX_CHARS: usize = 253;
/// Longest name part of an extension name (after the prefix and `/`).
pub(crate) const MAX_EXTENSION_LOCAL_CHARS: usize = 63;
/// Longest extension name: `prefix/name`.
pub const MAX_EXTENSION_NAME_CHARS: usize =
    MAX_EXTENSION_PREFIX_CHARS + 1 + MAX_EXTENSION_LOCAL_CHARS;
/// A node ID is this many lowercase hex characters (128 bits), as both reporters write it.
pub const NODE_ID_HEX: usize = 32;
/// Longest `Idempotency-Key` header value.
pub(crate) const MAX_IDEMPOTENCY_KEY: usize = 256;

/// Buckets of a per-namespace histogram (`workloads.<kind>.perNamespace`): bucket 0 counts the
/// namespaces holding no object of the kind, bucket `i` from 1 to 20 those holding 2^(i-1) to
/// 2^i - 1 (1; 2-3; 4-7; ...), and the last, 21, those holding 2^20 (1,048,576) or more. The
/// edges are fixed, so the histograms of a fleet add up bucket by bucket.
pub const WORKLOAD_BUCKETS: usize = 22;
/// Largest count anywhere in the workload part (objects of a kind, namespaces in a bucket, ages
/// counted): far above what any etcd holds (its largest recommended database, 8 GiB, fits a few
/// tens of millions of the smallest objects).
pub const MAX_WORKLOAD_COUNT: u64 = 100_000_000;
/// Oldest age in the workload part, in days (100 years; anything older is a broken clock).
pub const MAX_AGE_DAYS: u64 = 36_500;

/// What a control character in a text value becomes.
pub(crate) const REPLACEMENT: char = '\u{FFFD}';

/// The name of the capacity entry that counts resources not named (by the allowlist, or
/// because a node had more than [`MAX_CAPACITY`]).
pub(crate) const OTHER_RESOURCES: &str = "other";

/// The optional values a clamp can apply to: the label of `/metrics` and of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Timestamp,
    MasterVersion,
    OperatingSystem,
    OsImage,
    KernelVersion,
    Architecture,
    ContainerRuntimeVersion,
    KubeletVersion,
    CloudProvider,
    /// Capacity entries folded into `other`.
    Capacity,
    CapacityResource,
    CapacityValue,
    /// Extensions dropped past [`MAX_EXTENSIONS`].
    Extensions,
    ExtensionName,
    ExtensionValue,
    /// Counts of the workload part cut to [`MAX_WORKLOAD_COUNT`].
    WorkloadCount,
    /// Per-namespace buckets past [`WORKLOAD_BUCKETS`] folded into the last.
    WorkloadBuckets,
    /// Ages cut to [`MAX_AGE_DAYS`].
    WorkloadAge,
}

impl Field {
    pub const ALL: [Field; 18] = [
        Field::Timestamp,
        Field::MasterVersion,
        Field::OperatingSystem,
        Field::OsImage,
        Field::KernelVersion,
        Field::Architecture,
        Field::ContainerRuntimeVersion,
        Field::KubeletVersion,
        Field::CloudProvider,
        Field::Capacity,
        Field::CapacityResource,
        Field::CapacityValue,
        Field::Extensions,
        Field::ExtensionName,
        Field::ExtensionValue,
        Field::WorkloadCount,
        Field::WorkloadBuckets,
        Field::WorkloadAge,
    ];

    /// Where the value sits, without indices: `nodes.osImage`.
    pub fn label(self) -> &'static str {
        match self {
            Field::Timestamp => "timestamp",
            Field::MasterVersion => "masterVersion",
            Field::OperatingSystem => "nodes.operatingSystem",
            Field::OsImage => "nodes.osImage",
            Field::KernelVersion => "nodes.kernelVersion",
            Field::Architecture => "nodes.architecture",
            Field::ContainerRuntimeVersion => "nodes.containerRuntimeVersion",
            Field::KubeletVersion => "nodes.kubeletVersion",
            Field::CloudProvider => "nodes.cloudProvider",
            Field::Capacity => "nodes.capacity",
            Field::CapacityResource => "nodes.capacity.resource",
            Field::CapacityValue => "nodes.capacity.value",
            Field::Extensions => "extensions",
            Field::ExtensionName => "extensions.name",
            Field::ExtensionValue => "extensions.value",
            Field::WorkloadCount => "workloads.count",
            Field::WorkloadBuckets => "workloads.perNamespace",
            Field::WorkloadAge => "workloads.age",
        }
    }

    fn index(self) -> usize {
        Field::ALL.iter().position(|f| *f == self).unwrap_or(0)
    }
}

/// How many values of a report were clamped, by field.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Clamps([u64; Field::ALL.len()]);

impl Clamps {
    pub fn add(&mut self, field: Field, n: u64) {
        self.0[field.index()] += n;
    }

    pub fn get(&self, field: Field) -> u64 {
        self.0[field.index()]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// The fields with a count, in [`Field::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Field, u64)> + '_ {
        Field::ALL
            .iter()
            .map(|f| (*f, self.get(*f)))
            .filter(|(_, n)| *n > 0)
    }

    pub fn merge(&mut self, other: &Clamps) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }
}

/// `nodes.osImage:3,extensions.value:1`.
impl fmt::Display for Clamps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (field, n)) in self.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep}{}:{n}", field.label())?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Clamp rules (optional values).
// ---------------------------------------------------------------------------------------------

/// Cuts `text` to `max` characters at a character boundary and replaces control characters
/// with [`REPLACEMENT`]. Returns whether anything changed.
pub(crate) fn clamp_text(text: &mut String, max: usize) -> bool {
    let long = text.len() > max && text.chars().nth(max).is_some();
    if !long && !text.chars().any(char::is_control) {
        return false;
    }
    *text = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { REPLACEMENT } else { c })
        .collect();
    true
}

/// An optional text value: empty is absent (not a clamp), then [`clamp_text`].
fn clamp_optional(value: &mut Option<String>, max: usize) -> bool {
    if value.as_deref() == Some("") {
        *value = None;
    }
    value.as_mut().is_some_and(|v| clamp_text(v, max))
}

/// The kind of accelerator a capacity entry counts (`nvidia`, `amd`, `intel`, `habana`,
/// `aws-neuron`, `google-tpu`), by the resource name's vendor prefix; NVIDIA MIG profiles are
/// NVIDIA's.
pub fn accelerator(resource: &str) -> Option<&'static str> {
    const KINDS: [(&str, &str); 8] = [
        ("nvidia.com/gpu", "nvidia"),
        ("nvidia.com/mig-", "nvidia"),
        ("alpha.kubernetes.io/nvidia-gpu", "nvidia"),
        ("amd.com/gpu", "amd"),
        ("gpu.intel.com/", "intel"),
        ("habana.ai/", "habana"),
        ("aws.amazon.com/neuron", "aws-neuron"),
        ("google.com/tpu", "google-tpu"),
    ];
    KINDS
        .iter()
        .find(|(prefix, _)| resource.starts_with(prefix))
        .map(|(_, kind)| *kind)
}

/// The resources every node has, in the order a capacity cut keeps them.
pub const ESSENTIAL_RESOURCES: [&str; 4] = ["cpu", "memory", "pods", "ephemeral-storage"];

/// Which capacity entries a cut keeps first (lower first): [`ESSENTIAL_RESOURCES`] in their
/// order, then accelerators and MIG profiles ([`accelerator`]), then the rest.
fn capacity_rank(resource: &str) -> usize {
    match ESSENTIAL_RESOURCES.iter().position(|r| *r == resource) {
        Some(i) => i,
        None if accelerator(resource).is_some() => ESSENTIAL_RESOURCES.len(),
        None => ESSENTIAL_RESOURCES.len() + 1,
    }
}

/// Keeps a node's capacity within [`MAX_CAPACITY`] entries. If there are more, the
/// `MAX_CAPACITY - 1` entries other than `other` that matter most stay ([`capacity_rank`]: the
/// essential resources, then accelerators, then the rest, each in list order), in their order,
/// and the rest are added to the count of the `other` entry (made if missing; a value that is
/// not a count counts as one). `other` keeps its sorted place in a sorted list. Returns how
/// many entries were folded. The reporter and the collector cut by this one rule.
pub(crate) fn fold_capacity(list: &mut Vec<Resource>) -> u64 {
    if list.len() <= MAX_CAPACITY {
        return 0;
    }
    let existing = match list.iter().position(|r| r.resource == OTHER_RESOURCES) {
        Some(i) => list.remove(i).value.parse::<u64>().unwrap_or(1),
        None => 0,
    };
    let keep = MAX_CAPACITY - 1;
    let folded = list.len().saturating_sub(keep) as u64;
    let mut order: Vec<usize> = (0..list.len()).collect();
    order.sort_by_key(|&i| (capacity_rank(&list[i].resource), i));
    let mut kept = vec![false; list.len()];
    for &i in order.iter().take(keep) {
        kept[i] = true;
    }
    let mut i = 0;
    list.retain(|_| {
        i += 1;
        kept[i - 1]
    });
    let other = Resource {
        resource: OTHER_RESOURCES.to_string(),
        value: (existing + folded).to_string(),
    };
    if list.is_sorted() {
        let at = list.partition_point(|r| r.resource.as_str() < OTHER_RESOURCES);
        list.insert(at, other);
    } else {
        list.push(other);
    }
    folded
}

/// Applies every clamp rule to one node.
pub(crate) fn clamp_node(node: &mut Node, clamps: &mut Clamps) {
    for (field, value) in node.texts_mut() {
        if clamp_optional(value, MAX_STRING_CHARS) {
            clamps.add(field, 1);
        }
    }
    for r in &mut node.capacity {
        if clamp_text(&mut r.resource, MAX_STRING_CHARS) {
            clamps.add(Field::CapacityResource, 1);
        }
        if clamp_text(&mut r.value, MAX_STRING_CHARS) {
            clamps.add(Field::CapacityValue, 1);
        }
    }
    clamps.add(Field::Capacity, fold_capacity(&mut node.capacity));
}

/// The bucket of a namespace holding `count` objects of a kind (see [`WORKLOAD_BUCKETS`]).
pub fn namespace_bucket(count: u64) -> usize {
    let bits = (u64::BITS - count.leading_zeros()) as usize;
    bits.min(WORKLOAD_BUCKETS - 1)
}

/// The counts bucket `i` holds: its smallest, and its largest (`None` for the last, open one).
pub(crate) fn bucket_range(i: usize) -> (u64, Option<u64>) {
    match i {
        0 => (0, Some(0)),
        _ if i >= WORKLOAD_BUCKETS - 1 => (1 << (WORKLOAD_BUCKETS - 2), None),
        _ => (1 << (i - 1), Some((1 << i) - 1)),
    }
}

/// Bucket `i` as a person reads it: `0`, `1`, `2-3`, ..., `1048576+`.
pub fn bucket_label(i: usize) -> String {
    match bucket_range(i) {
        (low, Some(high)) if low == high => low.to_string(),
        (low, Some(high)) => format!("{low}-{high}"),
        (low, None) => format!("{low}+"),
    }
}

/// Cuts `n` to `max`; whether it was cut.
fn cap(n: &mut u64, max: u64) -> bool {
    let over = *n > max;
    *n = (*n).min(max);
    over
}

/// Keeps one kind's statistics within the limits: counts cut to [`MAX_WORKLOAD_COUNT`], buckets
/// past [`WORKLOAD_BUCKETS`] added into the last, ages cut to [`MAX_AGE_DAYS`]. Trailing empty
/// buckets are dropped, and an age of nothing counted is absent (neither is a clamp).
fn clamp_kind(kind: &mut KindStats, clamps: &mut Clamps) {
    let mut counts = u64::from(cap(&mut kind.total, MAX_WORKLOAD_COUNT));
    let buckets = &mut kind.per_namespace;
    if buckets.len() > WORKLOAD_BUCKETS {
        let folded = buckets.split_off(WORKLOAD_BUCKETS);
        clamps.add(Field::WorkloadBuckets, folded.len() as u64);
        let last = &mut buckets[WORKLOAD_BUCKETS - 1];
        *last = folded.iter().fold(*last, |sum, n| sum.saturating_add(*n));
    }
    for n in buckets.iter_mut() {
        counts += u64::from(cap(n, MAX_WORKLOAD_COUNT));
    }
    while buckets.last() == Some(&0) {
        buckets.pop();
    }
    if let Some(age) = &mut kind.age {
        counts += u64::from(cap(&mut age.count, MAX_WORKLOAD_COUNT));
        let Ages {
            mean_days,
            median_days,
            p90_days,
            ..
        } = age;
        let days = [mean_days, median_days, p90_days];
        let cut = days
            .into_iter()
            .map(|d| cap(d, MAX_AGE_DAYS))
            .filter(|cut| *cut)
            .count();
        clamps.add(Field::WorkloadAge, cut as u64);
    }
    if kind.age.is_some_and(|a| a.count == 0) {
        kind.age = None;
    }
    clamps.add(Field::WorkloadCount, counts);
}

/// Applies the clamp rules to the workload part; an empty one is absent.
pub(crate) fn clamp_workloads(workloads: &mut Option<Workloads>, clamps: &mut Clamps) {
    if let Some(w) = workloads {
        for kind in super::ObjectKind::ALL {
            if let Some(stats) = w.slot(kind) {
                clamp_kind(stats, clamps);
            }
        }
    }
    if workloads.as_ref().is_some_and(Workloads::is_empty) {
        *workloads = None;
    }
}

/// Applies every clamp rule to a report's own fields (not its nodes).
pub(crate) fn clamp_header(report: &mut Report, clamps: &mut Clamps) {
    if clamp_text(&mut report.timestamp, MAX_STRING_CHARS) {
        clamps.add(Field::Timestamp, 1);
    }
    if clamp_optional(&mut report.master_version, MAX_STRING_CHARS) {
        clamps.add(Field::MasterVersion, 1);
    }
    let over = report.extensions.len().saturating_sub(MAX_EXTENSIONS);
    report.extensions.truncate(MAX_EXTENSIONS);
    clamps.add(Field::Extensions, over as u64);
    for Extension { name, value } in &mut report.extensions {
        if clamp_text(name, MAX_EXTENSION_NAME_CHARS) {
            clamps.add(Field::ExtensionName, 1);
        }
        if clamp_text(value, MAX_STRING_CHARS) {
            clamps.add(Field::ExtensionValue, 1);
        }
    }
    clamp_workloads(&mut report.workloads, clamps);
}

// ---------------------------------------------------------------------------------------------
// Structural rules (required values).
// ---------------------------------------------------------------------------------------------

/// A cluster ID is 1 to [`MAX_CLUSTER_ID_CHARS`] printable ASCII characters without spaces (a
/// UUID from either reporter).
pub(crate) fn check_cluster_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_CLUSTER_ID_CHARS {
        return Err(format!(
            "must be 1 to {MAX_CLUSTER_ID_CHARS} characters long (has {})",
            id.chars().count()
        ));
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces".into());
    }
    Ok(())
}

/// The format version is 1 to [`MAX_STRING_CHARS`] characters, none of them a control.
pub(crate) fn check_version(version: &str) -> Result<(), String> {
    if version.is_empty() {
        return Err("is empty".into());
    }
    if version.chars().nth(MAX_STRING_CHARS).is_some() {
        return Err(format!("is longer than {MAX_STRING_CHARS} characters"));
    }
    if version.chars().any(char::is_control) {
        return Err("contains control characters".into());
    }
    Ok(())
}

/// A node ID is [`NODE_ID_HEX`] lowercase hex characters; its value, for finding duplicates.
pub(crate) fn parse_node_id(id: &str) -> Option<u128> {
    let ok = id.len() == NODE_ID_HEX
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    ok.then(|| u128::from_str_radix(id, 16).ok()).flatten()
}

/// An `Idempotency-Key` header value: 1 to [`MAX_IDEMPOTENCY_KEY`] visible ASCII characters,
/// optionally in double quotes (the structured-field form of the IETF draft), which are removed.
pub(crate) fn idempotency_key(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?.trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let ok = !text.is_empty()
        && text.len() <= MAX_IDEMPOTENCY_KEY
        && text.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| text.to_string())
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
