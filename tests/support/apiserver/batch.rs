//! The CronJob spartakus is installed as, and the Jobs it creates, served by name. Tests
//! configure them with [`super::Config::with_cronjob`] and [`super::Config::with_job`] (built
//! with [`cronjob`] and [`scheduled_job`] here, or by hand) or change them while the server runs.

use super::State;
use super::status::{self, Reply};
use crate::support::util::{fnv, splitmix, timestamp, uuid_from};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobStatus, JobTemplateSpec};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use std::collections::BTreeMap;

/// Where the default CronJob lives, and its name.
pub const NAMESPACE: &str = "spartakus";
pub const CRONJOB: &str = "spartakus";
/// When the default Job was scheduled: 2025-07-01 03:17 UTC, seconds since the epoch.
pub const LAST_SCHEDULE: u64 = 1_751_339_820;

/// `(namespace, name)` of an object.
pub fn key(meta: &ObjectMeta) -> (String, String) {
    let ns = meta.namespace.clone().unwrap_or_default();
    (ns, meta.name.clone().unwrap_or_default())
}

fn labels(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (
            "app.kubernetes.io/name".to_string(),
            "spartakus".to_string(),
        ),
        (
            "app.kubernetes.io/component".to_string(),
            "reporter".to_string(),
        ),
    ]);
    labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    labels
}

fn template(extra_labels: &[(&str, &str)]) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(extra_labels)),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "report".to_string(),
                image: Some("ghcr.io/spartakus/spartakus:v1.0.0".to_string()),
                args: Some(vec!["report".to_string()]),
                ..Container::default()
            }],
            restart_policy: Some("Never".to_string()),
            service_account_name: Some("spartakus-reporter".to_string()),
            ..PodSpec::default()
        }),
    }
}

/// The CronJob of `manifests/cronjob.yaml` as the API server returns it, with a UID derived
/// from its namespace and name (the same on every run).
pub fn cronjob(namespace: &str, name: &str) -> CronJob {
    let seed = fnv(&format!("cronjob/{namespace}/{name}"));
    CronJob {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            uid: Some(uuid_from(splitmix(seed), splitmix(seed ^ 1))),
            resource_version: Some("4001207".to_string()),
            generation: Some(1),
            creation_timestamp: Some(Time(timestamp(1_748_736_000))),
            labels: Some(labels(&[])),
            ..ObjectMeta::default()
        },
        spec: Some(CronJobSpec {
            schedule: "17 3 * * *".to_string(),
            time_zone: Some("Etc/UTC".to_string()),
            concurrency_policy: Some("Forbid".to_string()),
            starting_deadline_seconds: Some(3600),
            successful_jobs_history_limit: Some(1),
            failed_jobs_history_limit: Some(3),
            suspend: Some(false),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(&[])),
                    ..ObjectMeta::default()
                }),
                spec: Some(JobSpec {
                    backoff_limit: Some(1),
                    active_deadline_seconds: Some(16_200),
                    template: template(&[]),
                    ..JobSpec::default()
                }),
            },
        }),
        status: None,
    }
}

/// The Job `cronjob`'s controller creates for the run scheduled at `scheduled` (seconds since
/// the epoch): named `<cronjob>-<minutes since the epoch>`, owned by the CronJob.
pub fn scheduled_job(cronjob: &CronJob, scheduled: u64) -> Job {
    let (namespace, cron_name) = key(&cronjob.metadata);
    let name = format!("{cron_name}-{}", scheduled / 60);
    let owner = OwnerReference {
        api_version: "batch/v1".to_string(),
        kind: "CronJob".to_string(),
        name: cron_name,
        uid: cronjob.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    job(&namespace, &name, Some(owner), scheduled)
}

/// A Job named `name` (owned by `owner`, if any) created at `created`, as the API server returns
/// it: a UID derived from its namespace and name, the job-name labels, a successful status.
pub fn job(namespace: &str, name: &str, owner: Option<OwnerReference>, created: u64) -> Job {
    let seed = fnv(&format!("job/{namespace}/{name}"));
    let uid = uuid_from(splitmix(seed), splitmix(seed ^ 1));
    let job_labels = [
        ("batch.kubernetes.io/controller-uid", uid.as_str()),
        ("batch.kubernetes.io/job-name", name),
        ("controller-uid", uid.as_str()),
        ("job-name", name),
    ];
    Job {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            uid: Some(uid.clone()),
            resource_version: Some("4001311".to_string()),
            generation: Some(1),
            creation_timestamp: Some(Time(timestamp(created))),
            labels: Some(labels(&job_labels)),
            owner_references: owner.map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(1),
            active_deadline_seconds: Some(16_200),
            template: template(&job_labels),
            ..JobSpec::default()
        }),
        status: Some(JobStatus {
            active: Some(1),
            start_time: Some(Time(timestamp(created))),
            ..JobStatus::default()
        }),
    }
}

pub(super) fn get_cronjob(state: &mut State, ns: &str, name: &str) -> Reply {
    let key = (ns.to_string(), name.to_string());
    match state.cronjobs.get(&key) {
        Some(c) => Reply::json(200, serde_json::to_vec(c).expect("a CronJob serializes")),
        None => status::not_found("batch", "cronjobs", name),
    }
}

pub(super) fn get_job(state: &mut State, ns: &str, name: &str) -> Reply {
    let key = (ns.to_string(), name.to_string());
    match state.jobs.get(&key) {
        Some(j) => Reply::json(200, serde_json::to_vec(j).expect("a Job serializes")),
        None => status::not_found("batch", "jobs", name),
    }
}
