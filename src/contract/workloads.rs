//! The optional workload part of a report (`spartakus report --workload-stats`): how many
//! namespaces a cluster has, how many objects of each kind, how they spread over the namespaces,
//! and how old namespaces, pods and services are. Counts and whole days only: no name, label,
//! annotation, owner or image of any object can be written here, because no field can hold one.
//!
//! On the wire it is the top-level key `workloads`, additive to the v1 format (the original
//! collector, and any reader that ignores unknown fields, skips it):
//!
//! ```json
//! "workloads": {
//!   "namespaces": {"total": 120, "age": {"count": 120, "meanDays": 210, "medianDays": 180, "p90Days": 600}},
//!   "pods": {"total": 2000, "perNamespace": [48, 12, 9, 14, 10, 11, 8, 5, 3],
//!            "age": {"count": 2000, "meanDays": 96, "medianDays": 41, "p90Days": 280}},
//!   "deployments": {"total": 48, "perNamespace": [101, 8, 6, 3, 2]}
//! }
//! ```
//!
//! A kind that was not listed (the reporter may not, or the API does not serve it) is absent; a
//! kind listed with no objects has `total` 0. `perNamespace[i]` is how many namespaces hold a
//! number of objects of the kind within bucket `i` of [`super::limits::namespace_bucket`]
//! (0, 1, 2-3, 4-7, ... doubling; trailing empty buckets are left out), so the histograms of a
//! fleet add up bucket by bucket. Ages are whole days since `metadata.creationTimestamp`; the
//! mean comes with its count so that a fleet's mean can be computed, while medians and 90th
//! percentiles are the cluster's own. Limits and clamp rules are in [`super::limits`].

use serde::{Deserialize, Serialize};

/// The kinds of objects counted, each named as the Kubernetes API names its resource (and as
/// the key of its statistics in [`Workloads`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    Namespaces,
    Pods,
    Services,
    Deployments,
    StatefulSets,
    DaemonSets,
    Jobs,
    CronJobs,
}

impl ObjectKind {
    /// Every kind, in the order they are listed and written.
    pub const ALL: [ObjectKind; 8] = [
        ObjectKind::Namespaces,
        ObjectKind::Pods,
        ObjectKind::Services,
        ObjectKind::Deployments,
        ObjectKind::StatefulSets,
        ObjectKind::DaemonSets,
        ObjectKind::Jobs,
        ObjectKind::CronJobs,
    ];

    /// The resource name, as in the API's URLs and RBAC rules, and the key in the report.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Namespaces => "namespaces",
            ObjectKind::Pods => "pods",
            ObjectKind::Services => "services",
            ObjectKind::Deployments => "deployments",
            ObjectKind::StatefulSets => "statefulsets",
            ObjectKind::DaemonSets => "daemonsets",
            ObjectKind::Jobs => "jobs",
            ObjectKind::CronJobs => "cronjobs",
        }
    }

    /// Whether the reporter sends the age distribution of this kind (namespaces, pods and
    /// services: how long-lived clusters' contents are; the others follow their pods).
    pub fn with_ages(self) -> bool {
        matches!(
            self,
            ObjectKind::Namespaces | ObjectKind::Pods | ObjectKind::Services
        )
    }

    /// Whether objects of this kind live in namespaces (all but namespaces themselves), so that
    /// the reporter sends their per-namespace histogram.
    pub fn namespaced(self) -> bool {
        self != ObjectKind::Namespaces
    }
}

/// The workload part: one entry per kind that was listed.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct Workloads {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<KindStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<KindStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<KindStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployments: Option<KindStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statefulsets: Option<KindStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemonsets: Option<KindStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<KindStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cronjobs: Option<KindStats>,
}

/// The statistics of one kind.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KindStats {
    /// Objects of the kind in the cluster.
    pub total: u64,
    /// Namespaces by how many objects of the kind they hold, in the buckets of
    /// [`super::limits::namespace_bucket`]; empty for namespaces themselves.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "super::read::bounded_list"
    )]
    pub per_namespace: Vec<u64>,
    /// How old the objects are, for the kinds of [`ObjectKind::with_ages`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age: Option<Ages>,
}

/// An age distribution in whole days.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Ages {
    /// Objects whose age is known (at most the kind's total).
    pub count: u64,
    /// The mean age, rounded to the nearest day.
    pub mean_days: u64,
    /// The median age (the age of the object at rank `ceil(count / 2)`, youngest first).
    pub median_days: u64,
    /// The 90th percentile (the age at rank `ceil(0.9 * count)`, youngest first).
    pub p90_days: u64,
}

impl Workloads {
    /// The statistics of `kind`, if it was listed.
    pub fn get(&self, kind: ObjectKind) -> Option<&KindStats> {
        match kind {
            ObjectKind::Namespaces => self.namespaces.as_ref(),
            ObjectKind::Pods => self.pods.as_ref(),
            ObjectKind::Services => self.services.as_ref(),
            ObjectKind::Deployments => self.deployments.as_ref(),
            ObjectKind::StatefulSets => self.statefulsets.as_ref(),
            ObjectKind::DaemonSets => self.daemonsets.as_ref(),
            ObjectKind::Jobs => self.jobs.as_ref(),
            ObjectKind::CronJobs => self.cronjobs.as_ref(),
        }
    }

    /// Where the statistics of `kind` go.
    pub fn slot(&mut self, kind: ObjectKind) -> &mut Option<KindStats> {
        match kind {
            ObjectKind::Namespaces => &mut self.namespaces,
            ObjectKind::Pods => &mut self.pods,
            ObjectKind::Services => &mut self.services,
            ObjectKind::Deployments => &mut self.deployments,
            ObjectKind::StatefulSets => &mut self.statefulsets,
            ObjectKind::DaemonSets => &mut self.daemonsets,
            ObjectKind::Jobs => &mut self.jobs,
            ObjectKind::CronJobs => &mut self.cronjobs,
        }
    }

    /// Whether no kind was listed.
    pub fn is_empty(&self) -> bool {
        ObjectKind::ALL.iter().all(|k| self.get(*k).is_none())
    }

    /// The number of namespaces, if they were listed.
    pub fn namespace_count(&self) -> Option<u64> {
        self.namespaces.as_ref().map(|n| n.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each kind's key in the report is its resource name.
    #[test]
    fn the_keys_are_the_resource_names() {
        let mut all = Workloads::default();
        for (i, kind) in ObjectKind::ALL.into_iter().enumerate() {
            *all.slot(kind) = Some(KindStats {
                total: i as u64,
                ..KindStats::default()
            });
        }
        let value = serde_json::to_value(&all).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        let mut names: Vec<&str> = ObjectKind::ALL.iter().map(|k| k.name()).collect();
        names.sort_unstable();
        assert_eq!(keys, names);
        for (i, kind) in ObjectKind::ALL.into_iter().enumerate() {
            assert_eq!(value[kind.name()]["total"], i, "{kind:?}");
            assert_eq!(all.get(kind).unwrap().total, i as u64);
        }
        assert!(!all.is_empty() && Workloads::default().is_empty());
    }

    #[test]
    fn the_wire_shape() {
        let w = Workloads {
            namespaces: Some(KindStats {
                total: 3,
                per_namespace: Vec::new(),
                age: Some(Ages {
                    count: 3,
                    mean_days: 10,
                    median_days: 9,
                    p90_days: 20,
                }),
            }),
            pods: Some(KindStats {
                total: 5,
                per_namespace: vec![1, 1, 0, 1],
                age: None,
            }),
            ..Workloads::default()
        };
        assert_eq!(
            serde_json::to_string(&w).unwrap(),
            r#"{"namespaces":{"total":3,"age":{"count":3,"meanDays":10,"medianDays":9,"p90Days":20}},"pods":{"total":5,"perNamespace":[1,1,0,1]}}"#
        );
        assert_eq!(w.namespace_count(), Some(3));
        let back: Workloads = serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap();
        assert_eq!(back, w);
        assert!(ObjectKind::Pods.with_ages() && !ObjectKind::Jobs.with_ages());
        assert!(!ObjectKind::Namespaces.namespaced() && ObjectKind::CronJobs.namespaced());
    }
}
