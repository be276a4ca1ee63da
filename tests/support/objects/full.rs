//! Whole objects, small but valid: what a list without the metadata-only `Accept` returns.

use super::meta::{Described, describe, to_meta};
use super::{Layout, Resource, Spot};
use crate::support::util::write_list_item;
use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, Deployment, DeploymentSpec, DeploymentStatus, StatefulSet,
    StatefulSetSpec,
};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobStatus, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Container, Namespace, NamespaceSpec, NamespaceStatus, Pod, PodSpec, PodStatus, PodTemplateSpec,
    Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// A generated object of any kind, written as a list item or whole.
trait Written {
    fn write_item(&self, out: &mut Vec<u8>);
    fn to_json(&self) -> Vec<u8>;
}

impl<T: k8s_openapi::Resource + Serialize> Written for T {
    fn write_item(&self, out: &mut Vec<u8>) {
        write_list_item(out, self);
    }

    fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an object serializes")
    }
}

/// Object `g` of `resource`, whole.
fn object(layout: &Layout, resource: Resource, g: usize) -> Box<dyn Written> {
    let d = describe(layout, resource, g);
    let s = layout.spot(resource, g);
    let meta = to_meta(d.clone(), &s);
    match resource {
        Resource::Namespaces => Box::new(namespace(meta)),
        Resource::Pods => Box::new(pod(&s, &d, meta)),
        Resource::Services => Box::new(service(&s, &d, meta)),
        Resource::Deployments => Box::new(deployment(&s, &d, meta)),
        Resource::StatefulSets => Box::new(stateful_set(&s, &d, meta)),
        Resource::DaemonSets => Box::new(daemon_set(&d, meta)),
        Resource::Jobs => Box::new(job(&d, meta)),
        Resource::CronJobs => Box::new(cron_job(&d, meta)),
    }
}

/// Appends object `g` as an item of its typed list (no `kind` or `apiVersion`).
pub fn write_item(layout: &Layout, out: &mut Vec<u8>, resource: Resource, g: usize) {
    object(layout, resource, g).write_item(out);
}

/// Object `g`, with `kind` and `apiVersion`.
pub fn object_json(layout: &Layout, resource: Resource, g: usize) -> Vec<u8> {
    object(layout, resource, g).to_json()
}

fn namespace(metadata: ObjectMeta) -> Namespace {
    Namespace {
        metadata,
        spec: Some(NamespaceSpec {
            finalizers: Some(vec!["kubernetes".to_string()]),
        }),
        status: Some(NamespaceStatus {
            phase: Some("Active".to_string()),
            ..NamespaceStatus::default()
        }),
    }
}

fn image(d: &Described) -> String {
    let registry = if d.app.contains("acme") {
        "registry.acme-corp.example/apps"
    } else {
        "registry.k8s.io"
    };
    format!("{registry}/{}:v1.{}.0", d.app, d.created % 40)
}

fn pod_spec(d: &Described) -> PodSpec {
    PodSpec {
        containers: vec![Container {
            name: d.app.to_string(),
            image: Some(image(d)),
            ..Container::default()
        }],
        service_account_name: Some("default".to_string()),
        ..PodSpec::default()
    }
}

fn selector(d: &Described) -> BTreeMap<String, String> {
    BTreeMap::from([("app.kubernetes.io/name".to_string(), d.app.to_string())])
}

fn template(d: &Described) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(selector(d)),
            ..ObjectMeta::default()
        }),
        spec: Some(pod_spec(d)),
    }
}

fn label_selector(d: &Described) -> LabelSelector {
    LabelSelector {
        match_labels: Some(selector(d)),
        ..LabelSelector::default()
    }
}

fn pod(s: &Spot, d: &Described, metadata: ObjectMeta) -> Pod {
    let finished = d.owner.as_ref().is_some_and(|o| o.kind == "Job");
    let ip = u32::from_be_bytes([100, 64, 0, 0]) + (s.h(16) % (1 << 20)) as u32;
    Pod {
        metadata,
        spec: Some(pod_spec(d)),
        status: Some(PodStatus {
            phase: Some(if finished { "Succeeded" } else { "Running" }.to_string()),
            pod_ip: Some(Ipv4Addr::from(ip).to_string()),
            ..PodStatus::default()
        }),
    }
}

fn service(s: &Spot, d: &Described, metadata: ObjectMeta) -> Service {
    let ip = u32::from_be_bytes([172, 20, 0, 0]) + (s.h(17) % (1 << 16)) as u32;
    Service {
        metadata,
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            cluster_ip: Some(Ipv4Addr::from(ip).to_string()),
            ports: Some(vec![ServicePort {
                port: 80,
                protocol: Some("TCP".to_string()),
                target_port: Some(IntOrString::Int(8080)),
                ..ServicePort::default()
            }]),
            selector: Some(selector(d)),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

fn deployment(s: &Spot, d: &Described, metadata: ObjectMeta) -> Deployment {
    let replicas = 1 + (s.h(18) % 5) as i32;
    Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: label_selector(d),
            template: template(d),
            ..DeploymentSpec::default()
        }),
        status: Some(DeploymentStatus {
            replicas: Some(replicas),
            ready_replicas: Some(replicas),
            ..DeploymentStatus::default()
        }),
    }
}

fn stateful_set(s: &Spot, d: &Described, metadata: ObjectMeta) -> StatefulSet {
    StatefulSet {
        metadata,
        spec: Some(StatefulSetSpec {
            replicas: Some(1 + (s.h(18) % 3) as i32),
            selector: label_selector(d),
            service_name: Some(d.app.to_string()),
            template: template(d),
            ..StatefulSetSpec::default()
        }),
        status: None,
    }
}

fn daemon_set(d: &Described, metadata: ObjectMeta) -> DaemonSet {
    DaemonSet {
        metadata,
        spec: Some(DaemonSetSpec {
            selector: label_selector(d),
            template: template(d),
            ..DaemonSetSpec::default()
        }),
        status: None,
    }
}

fn job_spec(d: &Described) -> JobSpec {
    let mut template = template(d);
    if let Some(spec) = template.spec.as_mut() {
        spec.restart_policy = Some("Never".to_string());
    }
    JobSpec {
        backoff_limit: Some(1),
        template,
        ..JobSpec::default()
    }
}

fn job(d: &Described, metadata: ObjectMeta) -> Job {
    Job {
        metadata,
        spec: Some(job_spec(d)),
        status: Some(JobStatus {
            succeeded: Some(1),
            ..JobStatus::default()
        }),
    }
}

fn cron_job(d: &Described, metadata: ObjectMeta) -> CronJob {
    CronJob {
        metadata,
        spec: Some(CronJobSpec {
            schedule: "0 2 * * *".to_string(),
            job_template: JobTemplateSpec {
                metadata: None,
                spec: Some(job_spec(d)),
            },
            ..CronJobSpec::default()
        }),
        status: None,
    }
}
