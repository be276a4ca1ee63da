//! How the stand-in behaves: cluster size, identity, permissions and injected faults.

use super::batch;
use super::faults::Fault;
use super::hostile::Hostile;
use crate::support::objects::{Inventory, Resource};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The service account the stand-in says the caller is, in Forbidden messages.
pub const DEFAULT_USER: &str = "system:serviceaccount:spartakus:spartakus";

/// How the stand-in behaves. Everything can also be changed while it runs (see the `set_*` and
/// `insert_*` methods of [`super::ApiServer`]).
#[derive(Clone, Debug)]
pub struct Config {
    /// How many nodes the cluster has.
    pub nodes: usize,
    /// How many namespaces, pods, deployments... (see [`crate::support::objects`]).
    pub objects: Inventory,
    /// `gitVersion` of `/version`.
    pub git_version: String,
    /// The bearer token every request must carry.
    pub token: String,
    /// The user named in Forbidden messages.
    pub user: String,
    /// Requests of a kind (see [`super::Recorded::kind`]: `nodes`, `version`, `pods`,
    /// `events`...) fail like this first.
    pub faults: BTreeMap<String, Fault>,
    /// The continue token of this page of a list (by kind: `nodes`, `pods`...) expires once
    /// (410 Gone, reason Expired). Pages count from 0 for the first request of a list (which has
    /// no token), so this is at least 1.
    pub expire_continue: BTreeMap<String, usize>,
    /// `(resource, verb)` pairs the caller may not do (403 Forbidden); verb `*` is every verb.
    pub forbidden: BTreeSet<(String, String)>,
    /// The next ConfigMap create loses a race: a ConfigMap of the same name holding
    /// `clusterID` = this value appears first, and the create answers 409 AlreadyExists.
    pub lose_create_race: Option<String>,
    /// Every response waits this long first (a hung server).
    pub delay: Option<Duration>,
    /// Responses to requests of a kind (see [`super::Recorded::kind`]) wait this long first.
    pub delays: BTreeMap<String, Duration>,
    /// CronJobs and Jobs served by name (the default: CronJob `spartakus/spartakus` and one Job
    /// it created, see [`batch`]).
    pub cronjobs: Vec<CronJob>,
    pub jobs: Vec<Job>,
    /// Answers no real API server gives (see [`Hostile`]).
    pub hostile: Option<Hostile>,
}

impl Default for Config {
    fn default() -> Config {
        let cronjob = batch::cronjob(batch::NAMESPACE, batch::CRONJOB);
        let job = batch::scheduled_job(&cronjob, batch::LAST_SCHEDULE);
        Config {
            nodes: 5,
            objects: Inventory::default(),
            git_version: "v1.33.2".to_string(),
            token: "stand-in-token-3b9c5e1f7a".to_string(),
            user: DEFAULT_USER.to_string(),
            faults: BTreeMap::new(),
            expire_continue: BTreeMap::new(),
            forbidden: BTreeSet::new(),
            lose_create_race: None,
            delay: None,
            delays: BTreeMap::new(),
            cronjobs: vec![cronjob],
            jobs: vec![job],
            hostile: None,
        }
    }
}

impl Config {
    pub fn with_nodes(mut self, nodes: usize) -> Config {
        self.nodes = nodes;
        self
    }

    /// `count` namespaces (at least the 5 system ones).
    pub fn with_namespaces(self, count: usize) -> Config {
        self.with_objects(Resource::Namespaces, count)
    }

    /// `count` objects of `resource` across the cluster, spread unevenly over the namespaces.
    pub fn with_objects(mut self, resource: Resource, count: usize) -> Config {
        self.objects = self.objects.with(resource, count);
        self
    }

    pub fn with_git_version(mut self, version: &str) -> Config {
        self.git_version = version.to_string();
        self
    }

    #[allow(dead_code, reason = "only the stand-in example's --token sets it")]
    pub fn with_token(mut self, token: &str) -> Config {
        self.token = token.to_string();
        self
    }

    /// Requests of `kind` fail with `status` the next `times` times (`usize::MAX`: always).
    pub fn with_fault(mut self, kind: &str, status: u16, times: usize) -> Config {
        self.faults
            .insert(kind.to_string(), Fault::times(status, times));
        self
    }

    /// Requests of `kind` fail like `fault` (a `Retry-After`, another fault next...).
    pub fn with_fault_like(mut self, kind: &str, fault: Fault) -> Config {
        self.faults.insert(kind.to_string(), fault);
        self
    }

    pub fn with_nodes_fault(self, status: u16, times: usize) -> Config {
        self.with_fault("nodes", status, times)
    }

    pub fn with_version_fault(self, status: u16, times: usize) -> Config {
        self.with_fault("version", status, times)
    }

    /// The continue token of node list page `page` expires once.
    pub fn with_expired_continue_at_page(self, page: usize) -> Config {
        self.with_expired_continue("nodes", page)
    }

    /// The continue token of page `page` of lists of `kind` (`pods`...) expires once.
    pub fn with_expired_continue(mut self, kind: &str, page: usize) -> Config {
        self.expire_continue.insert(kind.to_string(), page);
        self
    }

    /// `verb` (`get`, `list`, `create`, or `*`) on `resource` (`pods`, `events`..., or a path
    /// that is not a resource, such as `/version`) answers 403, worded as RBAC words it.
    pub fn with_forbidden(mut self, resource: &str, verb: &str) -> Config {
        self.forbidden
            .insert((resource.to_string(), verb.to_string()));
        self
    }

    /// ConfigMap reads, lists and creates answer 403 Forbidden.
    pub fn with_forbidden_configmaps(self) -> Config {
        self.with_forbidden("configmaps", "*")
    }

    pub fn with_delay(mut self, delay: Duration) -> Config {
        self.delay = Some(delay);
        self
    }

    /// Requests of `kind` (`events`, `cronjob`...) are answered only after `delay`.
    pub fn with_delay_for(mut self, kind: &str, delay: Duration) -> Config {
        self.delays.insert(kind.to_string(), delay);
        self
    }

    /// Misbehave as `hostile` says.
    pub fn with_hostile(mut self, hostile: Hostile) -> Config {
        self.hostile = Some(hostile);
        self
    }

    /// No CronJobs and no Jobs.
    pub fn without_batch_objects(mut self) -> Config {
        self.cronjobs.clear();
        self.jobs.clear();
        self
    }

    /// Whether the caller may not `verb` `resource`.
    pub fn is_forbidden(&self, resource: &str, verb: &str) -> bool {
        [verb, "*"].iter().any(|v| {
            self.forbidden
                .contains(&(resource.to_string(), v.to_string()))
        })
    }
}
