//! The cluster's other objects (namespaces, pods, services, deployments, statefulsets,
//! daemonsets, jobs, cronjobs), generated deterministically on the fly like [`super::nodes`], so
//! that 10,000 namespaces and 300,000 pods can be listed page by page without holding them.
//!
//! An [`Inventory`] says how many objects of each resource the cluster has; a [`Layout`] spreads
//! them over the namespaces very unevenly, as in real clusters: a few huge namespaces, many
//! small ones, many empty ones (Zipf weights, 40% empty). Creation times spread over two years,
//! each object created after its namespace. Object `g` of a resource (in list order: namespaces
//! by name, then objects within a namespace) is always the same object for the same inventory.
//!
//! Identifying strings are planted in names, namespaces, labels, annotations and owner
//! references (all contain `acme`); [`Layout::identifying_strings`] lists them with the UIDs.

mod full;
mod meta;

use crate::support::util::{fnv, pick, splitmix};
use serde::Serialize;

/// A resource the stand-in lists from generated objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Namespaces,
    Pods,
    Services,
    Deployments,
    StatefulSets,
    DaemonSets,
    Jobs,
    CronJobs,
}

impl Resource {
    pub const ALL: [Resource; 8] = [
        Resource::Namespaces,
        Resource::Pods,
        Resource::Services,
        Resource::Deployments,
        Resource::StatefulSets,
        Resource::DaemonSets,
        Resource::Jobs,
        Resource::CronJobs,
    ];

    /// The resource name in URLs and RBAC rules: `pods`.
    pub fn plural(self) -> &'static str {
        self.info().0
    }

    /// The kind of its objects: `Pod`.
    pub fn kind(self) -> &'static str {
        self.info().1
    }

    /// The API group: `""`, `apps` or `batch`.
    pub fn group(self) -> &'static str {
        self.info().2
    }

    /// `v1`, `apps/v1` or `batch/v1`.
    pub fn api_version(self) -> &'static str {
        match self.group() {
            "" => "v1",
            "apps" => "apps/v1",
            _ => "batch/v1",
        }
    }

    /// The cluster-wide list: `/api/v1/pods`, `/apis/apps/v1/deployments`.
    pub fn list_path(self) -> String {
        match self.group() {
            "" => format!("/api/v1/{}", self.plural()),
            group => format!("/apis/{group}/v1/{}", self.plural()),
        }
    }

    pub fn from_plural(plural: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.plural() == plural)
    }

    fn info(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Resource::Namespaces => ("namespaces", "Namespace", ""),
            Resource::Pods => ("pods", "Pod", ""),
            Resource::Services => ("services", "Service", ""),
            Resource::Deployments => ("deployments", "Deployment", "apps"),
            Resource::StatefulSets => ("statefulsets", "StatefulSet", "apps"),
            Resource::DaemonSets => ("daemonsets", "DaemonSet", "apps"),
            Resource::Jobs => ("jobs", "Job", "batch"),
            Resource::CronJobs => ("cronjobs", "CronJob", "batch"),
        }
    }
}

/// How many objects of each resource the cluster has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inventory {
    counts: [usize; 8],
}

impl Default for Inventory {
    /// A small cluster: 24 namespaces, 240 pods, and a few of everything else.
    fn default() -> Inventory {
        Inventory {
            counts: [24, 240, 60, 48, 8, 10, 30, 6],
        }
    }
}

impl Inventory {
    /// `count` objects of `resource` (for [`Resource::Namespaces`], the number of namespaces,
    /// at least the 5 system ones).
    pub fn with(mut self, resource: Resource, count: usize) -> Inventory {
        self.counts[resource as usize] = count;
        self
    }

    pub fn count(&self, resource: Resource) -> usize {
        self.counts[resource as usize]
    }
}

/// The namespaces every cluster has, and the one spartakus is installed in.
pub const SYSTEM_NAMESPACES: [&str; 5] = [
    "default",
    "kube-node-lease",
    "kube-public",
    "kube-system",
    "spartakus",
];

/// The first day of the two years that creation times spread over (2023-07-01).
const FIRST_DAY: u64 = 1_688_169_600;
const TWO_YEARS: u64 = 730 * 86_400;

const TEAMS: &[&str] = &[
    "payments", "ledger", "search", "billing", "identity", "data", "web", "ml", "ops", "notify",
];
const ENVIRONMENTS: &[&str] = &["prod", "staging", "dev", "qa"];

struct Namespace {
    name: String,
    /// Its index before sorting by name: what its objects are derived from.
    seed: u64,
    team: &'static str,
    created: u64,
}

/// Where every object is: the namespaces sorted by name, and for each namespaced resource the
/// index of the first object of each namespace (a prefix sum), so object `g` is found by a
/// binary search. Holds O(namespaces), never the objects.
pub struct Layout {
    namespaces: Vec<Namespace>,
    starts: Vec<Vec<usize>>,
}

/// A hash of a seed and a salt naming what it is for.
pub(crate) fn hash(seed: u64, salt: u64) -> u64 {
    splitmix(splitmix(seed ^ 0x0b1e_c700_0000_0000) ^ salt)
}

impl Layout {
    pub fn new(inventory: &Inventory) -> Layout {
        let count = inventory
            .count(Resource::Namespaces)
            .max(SYSTEM_NAMESPACES.len());
        let mut namespaces: Vec<Namespace> = (0..count).map(namespace).collect();
        namespaces.sort_by(|a, b| a.name.cmp(&b.name));
        let weights: Vec<f64> = namespaces.iter().map(|ns| weight(ns.seed)).collect();
        let total_weight: f64 = weights.iter().sum();
        let starts = Resource::ALL.map(|resource| {
            let total = inventory.count(resource) as f64;
            let mut cumulative = 0.0;
            let mut starts = Vec::with_capacity(count + 1);
            starts.push(0);
            for w in &weights {
                cumulative += w;
                starts.push((total * cumulative / total_weight).round() as usize);
            }
            *starts.last_mut().expect("one entry at least") = total as usize;
            starts
        });
        Layout {
            namespaces,
            starts: starts.to_vec(),
        }
    }

    /// How many objects of `resource` the cluster has.
    pub fn len(&self, resource: Resource) -> usize {
        match resource {
            Resource::Namespaces => self.namespaces.len(),
            _ => *self.starts[resource as usize].last().unwrap_or(&0),
        }
    }

    /// The name of namespace `k` (in name order).
    pub fn namespace(&self, k: usize) -> &str {
        &self.namespaces[k].name
    }

    /// The position of namespace `name` in name order.
    pub fn namespace_index(&self, name: &str) -> Option<usize> {
        self.namespaces
            .binary_search_by(|ns| ns.name.as_str().cmp(name))
            .ok()
    }

    /// How many objects of `resource` namespace `k` holds.
    pub fn count_in(&self, resource: Resource, k: usize) -> usize {
        let starts = &self.starts[resource as usize];
        starts[k + 1] - starts[k]
    }

    /// Object `g` of `resource`: its namespace (position in name order) and its index there.
    pub fn locate(&self, resource: Resource, g: usize) -> (usize, usize) {
        if resource == Resource::Namespaces {
            return (g, 0);
        }
        let starts = &self.starts[resource as usize];
        let k = starts.partition_point(|&s| s <= g) - 1;
        (k, g - starts[k])
    }

    /// The metadata of object `g` of `resource`.
    pub fn metadata(
        &self,
        resource: Resource,
        g: usize,
    ) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        meta::metadata(self, resource, g)
    }

    /// Appends object `g` as an item of a `PartialObjectMetadataList` of `api_version`
    /// (`meta.k8s.io/v1`): `kind`, `apiVersion` and `metadata` only.
    pub fn write_metadata_item(
        &self,
        out: &mut Vec<u8>,
        resource: Resource,
        g: usize,
        api_version: &str,
    ) {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Partial<'a> {
            kind: &'static str,
            api_version: &'a str,
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        }
        let item = Partial {
            kind: "PartialObjectMetadata",
            api_version,
            metadata: self.metadata(resource, g),
        };
        serde_json::to_writer(out, &item).expect("metadata serializes");
    }

    /// Appends object `g` as an item of its typed list (the whole object, small).
    pub fn write_full_item(&self, out: &mut Vec<u8>, resource: Resource, g: usize) {
        full::write_item(self, out, resource, g);
    }

    /// Object `g` with `kind` and `apiVersion`, as a GET of it returns it.
    pub fn object_json(&self, resource: Resource, g: usize) -> Vec<u8> {
        full::object_json(self, resource, g)
    }

    /// Every string of object `g` that names something of the company (all contain `acme`),
    /// and its UID and its owners' UIDs.
    pub fn identifying_strings(&self, resource: Resource, g: usize) -> Vec<String> {
        meta::identifying_strings(self, resource, g)
    }
}

/// Namespace `i` before sorting: the system ones, then team, pull-request and tenant ones.
fn namespace(i: usize) -> Namespace {
    let seed = i as u64;
    let h = hash(seed, 1);
    let team = *pick(TEAMS, hash(seed, 2));
    let name = match SYSTEM_NAMESPACES.get(i) {
        Some(name) => name.to_string(),
        None => {
            let r = i - SYSTEM_NAMESPACES.len();
            match h % 10 {
                0..=4 => format!("acme-{team}-{}-{r}", pick(ENVIRONMENTS, h >> 8)),
                5..=7 => format!("acme-pr-{}-{team}", 10_000 + r),
                _ => format!(
                    "tenant-{}-{r}-acme",
                    crate::support::util::base36(h >> 16, 4)
                ),
            }
        }
    };
    // The system namespaces are as old as the cluster.
    let created = if i < SYSTEM_NAMESPACES.len() {
        FIRST_DAY + i as u64 * 60
    } else {
        FIRST_DAY + hash(seed, 3) % TWO_YEARS
    };
    Namespace {
        name,
        seed,
        team,
        created,
    }
}

/// The share of objects namespace `i` gets: Zipf by creation order, 40% of them empty, the
/// system ones as busy as a large namespace (kube-system) or nearly empty.
fn weight(i: u64) -> f64 {
    let zipf = |rank: u64| 1.0 / ((rank + 1) as f64).powf(1.2);
    match i {
        0 => zipf(40),
        1 | 2 => 0.0,
        3 => zipf(2),
        4 => zipf(5000),
        _ => {
            let rank = i - SYSTEM_NAMESPACES.len() as u64;
            if rank >= 3 && hash(i, 4) % 10 < 4 {
                0.0
            } else {
                zipf(rank)
            }
        }
    }
}

/// What an object is derived from: its resource, namespace and index there.
pub(crate) struct Spot<'a> {
    pub resource: Resource,
    pub g: usize,
    pub local: usize,
    pub namespace: &'a str,
    pub ns_seed: u64,
    pub team: &'static str,
    pub ns_created: u64,
}

impl Layout {
    pub(crate) fn spot(&self, resource: Resource, g: usize) -> Spot<'_> {
        let (k, local) = self.locate(resource, g);
        let ns = &self.namespaces[k];
        Spot {
            resource,
            g,
            local,
            namespace: &ns.name,
            ns_seed: ns.seed,
            team: ns.team,
            ns_created: ns.created,
        }
    }
}

impl Spot<'_> {
    /// A hash of this object and `salt`.
    pub fn h(&self, salt: u64) -> u64 {
        let object = (self.ns_seed << 32) ^ self.local as u64 ^ ((self.resource as u64) << 60);
        hash(object, salt)
    }

    /// A hash shared by the objects of this namespace.
    pub fn ns_h(&self, salt: u64) -> u64 {
        hash(self.ns_seed ^ fnv(self.namespace), salt)
    }

    /// Seconds since the epoch: after the namespace was created, within the two years.
    pub fn created(&self) -> u64 {
        if self.resource == Resource::Namespaces {
            return self.ns_created;
        }
        let end = FIRST_DAY + TWO_YEARS;
        self.ns_created + self.h(5) % (end - self.ns_created).max(1)
    }
}
