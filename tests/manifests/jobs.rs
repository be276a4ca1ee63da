//! Jobs: the CronJob and the init Job as rendered, and what re-applying with a new image
//! changes.

use super::*;
use k8s_openapi::api::batch::v1::{CronJobSpec, JobSpec};

/// `5m`, `90s`, `4h`, `1h30m` in seconds.
pub(super) fn seconds(duration: &str) -> i64 {
    let mut total = 0;
    let mut number = String::new();
    for ch in duration.chars() {
        if ch.is_ascii_digit() {
            number.push(ch);
            continue;
        }
        let unit = match ch {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => panic!("duration {duration:?}: unit {ch:?}"),
        };
        total += number.parse::<i64>().expect(duration) * unit;
        number.clear();
    }
    assert!(number.is_empty(), "duration {duration:?} lacks a unit");
    total
}

/// The environment a container starts with, as the kubelet builds it: `envFrom` first, then
/// `env` (which wins). ConfigMaps come from `objects` (a missing optional one adds nothing);
/// `fieldRef`s are resolved from `pod_labels` and the namespace.
pub(super) fn environment(
    container: &Container,
    objects: &[Value],
    pod_labels: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let configmap = |name: &str| -> Option<BTreeMap<String, String>> {
        objects
            .iter()
            .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == name)
            .map(|o| typed::<ConfigMap>(o).data.unwrap_or_default())
    };
    let mut env = BTreeMap::new();
    for source in container.env_from.iter().flatten() {
        let cm = source
            .config_map_ref
            .as_ref()
            .expect("only configMapRef in envFrom");
        assert!(source.secret_ref.is_none());
        match configmap(&cm.name) {
            Some(data) => {
                for (k, v) in data {
                    env.insert(
                        format!("{}{k}", source.prefix.clone().unwrap_or_default()),
                        v,
                    );
                }
            }
            None => assert_eq!(
                cm.optional,
                Some(true),
                "ConfigMap {} not rendered",
                cm.name
            ),
        }
    }
    for var in container.env.iter().flatten() {
        let value = if let Some(value) = &var.value {
            value.clone()
        } else {
            let from = var.value_from.as_ref().expect("value or valueFrom");
            let field = &from.field_ref.as_ref().expect("only fieldRef").field_path;
            if field == "metadata.namespace" {
                NAMESPACE.to_owned()
            } else if field == "metadata.name" {
                "spartakus-29188997-x7k2p".to_owned()
            } else if let Some(label) = field
                .strip_prefix("metadata.labels['")
                .and_then(|l| l.strip_suffix("']"))
            {
                pod_labels.get(label).cloned().unwrap_or_default()
            } else {
                panic!("fieldRef {field} not resolved by this test")
            }
        };
        env.insert(var.name.clone(), value);
    }
    env
}

#[test]
fn the_cronjob_reports_daily_with_bounded_retries_and_a_deadline_above_the_reporters() {
    if !need::kubectl() {
        return;
    }
    for (dir, objects) in all_renders() {
        let (holder, cronjob) = the_one::<CronJob>(objects, "CronJob");
        let spec = cronjob.spec.unwrap();
        runs_once_a_day_and_keeps_a_short_history(dir, &holder, &spec);
        let job = spec.job_template.spec.unwrap();
        let labels = job
            .template
            .metadata
            .clone()
            .unwrap_or_default()
            .labels
            .unwrap_or_default();
        let container = &runs_report_once_a_pod(dir, &job);
        let env = environment(container, objects, &labels);
        the_deadline_is_above_every_pods_spread_and_timeout(dir, &job, container, &env);
        the_reporter_learns_its_job_and_pod_names(dir, container);
        // The receipt needs the CronJob the Role lets it read.
        assert_eq!(
            cronjob.metadata.name.as_deref(),
            Some(spartakus::reporter::receipt::CRONJOB),
            "{dir}"
        );
        errors_a_retry_cannot_fix_fail_the_job(&job, container);
        // The cluster-ID ConfigMap the reporter reads is the one its Role names.
        assert_eq!(
            env.get("SPARTAKUS_CONFIGMAP")
                .map_or("spartakus", String::as_str),
            "spartakus"
        );
    }
}

/// Once a day at a fixed time (UTC), never two at once, a bounded start deadline and history.
fn runs_once_a_day_and_keeps_a_short_history(dir: &str, holder: &str, spec: &CronJobSpec) {
    let fields: Vec<&str> = spec.schedule.split_whitespace().collect();
    assert_eq!(
        fields.len(),
        5,
        "{dir}: {holder}: schedule {}",
        spec.schedule
    );
    assert!(
        fields[0].parse::<u32>().is_ok()
            && fields[1].parse::<u32>().is_ok()
            && fields[2..] == ["*", "*", "*"],
        "{dir}: {holder}: once a day at a fixed time, got {}",
        spec.schedule
    );
    assert_eq!(spec.time_zone.as_deref(), Some("Etc/UTC"), "{dir}");
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"), "{dir}");
    let starting = spec
        .starting_deadline_seconds
        .expect("startingDeadlineSeconds");
    assert!(
        (60..86_400).contains(&starting),
        "{dir}: startingDeadlineSeconds {starting}"
    );
    // A Job made by hand (`kubectl create job --from=cronjob/spartakus`) is one of the
    // CronJob's and counts in its history: its log must outlive the next scheduled success.
    assert!(
        spec.successful_jobs_history_limit
            .is_some_and(|n| (2..=5).contains(&n)),
        "{dir}: successfulJobsHistoryLimit {:?}",
        spec.successful_jobs_history_limit
    );
    assert!(
        spec.failed_jobs_history_limit
            .is_some_and(|n| (1..=5).contains(&n))
    );
    assert_ne!(spec.suspend, Some(true));
}

/// The Job retries a little, is cleaned up by the history limits, and its pod runs `report`
/// once in its one container: that container.
fn runs_report_once_a_pod(dir: &str, job: &JobSpec) -> Container {
    assert!(
        job.backoff_limit.is_some_and(|n| (0..=2).contains(&n)),
        "{dir}: backoffLimit"
    );
    assert!(
        job.ttl_seconds_after_finished.is_none(),
        "{dir}: history limits clean up"
    );
    let pod = job.template.spec.clone().unwrap();
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"), "{dir}");
    assert_eq!(pod.containers.len(), 1, "{dir}");
    let container = pod.containers[0].clone();
    assert_eq!(
        container.command, None,
        "{dir}: the image's entrypoint runs"
    );
    assert_eq!(
        container.args.as_deref(),
        Some(&["report".to_owned()][..]),
        "{dir}"
    );
    container
}

/// The deadline: each pod (the first and every retry) may wait the whole spread and then run to
/// the reporter's own --timeout.
fn the_deadline_is_above_every_pods_spread_and_timeout(
    dir: &str,
    job: &JobSpec,
    container: &Container,
    env: &BTreeMap<String, String>,
) {
    let timeout = env
        .get("SPARTAKUS_TIMEOUT")
        .map_or(DEFAULT_TIMEOUT_SECONDS, |t| seconds(t));
    let spread = env.get("SPARTAKUS_SPREAD").map_or(0, |t| seconds(t));
    let deadline = job.active_deadline_seconds.expect("activeDeadlineSeconds");
    let pods = i64::from(job.backoff_limit.unwrap()) + 1;
    assert!(
        deadline > pods * (spread + timeout),
        "{dir}: activeDeadlineSeconds {deadline} must exceed {pods} x (spread {spread}s + \
         timeout {timeout}s)"
    );
    // Both are pinned in the container's env, which wins over the ConfigMap.
    let pinned: BTreeSet<&str> = container
        .env
        .iter()
        .flatten()
        .map(|e| e.name.as_str())
        .collect();
    assert!(pinned.contains("SPARTAKUS_TIMEOUT") && pinned.contains("SPARTAKUS_SPREAD"));
}

/// The spread needs the Job's name to tell a scheduled run from a manual one; the receipt names
/// the pod that made it.
fn the_reporter_learns_its_job_and_pod_names(dir: &str, container: &Container) {
    let field = |name: &str| {
        let var = container.env.iter().flatten().find(|e| e.name == name);
        var.and_then(|e| e.value_from.clone())
            .and_then(|f| f.field_ref)
            .map(|f| f.field_path)
    };
    assert_eq!(
        field("SPARTAKUS_JOB_NAME").as_deref(),
        Some("metadata.labels['batch.kubernetes.io/job-name']"),
        "{dir}"
    );
    assert_eq!(
        field("SPARTAKUS_POD_NAME").as_deref(),
        Some("metadata.name"),
        "{dir}"
    );
}

/// Retrying a configuration error (2) or a rejected report (4) cannot help.
fn errors_a_retry_cannot_fix_fail_the_job(job: &JobSpec, container: &Container) {
    let rules = job
        .pod_failure_policy
        .clone()
        .expect("podFailurePolicy")
        .rules;
    let fail_job = rules
        .iter()
        .find(|r| r.action == "FailJob")
        .and_then(|r| r.on_exit_codes.clone())
        .expect("a FailJob rule on exit codes");
    assert_eq!(
        fail_job.container_name.as_deref(),
        Some(container.name.as_str())
    );
    assert_eq!(
        (fail_job.operator.as_str(), fail_job.values),
        ("In", vec![2, 4])
    );
}

#[test]
fn the_init_job_runs_init_once_and_ends() {
    if !need::kubectl() {
        return;
    }
    for (dir, objects) in all_renders() {
        let (holder, job) = the_one::<Job>(objects, "Job");
        let spec = job.spec.unwrap();
        assert!(
            spec.backoff_limit.is_some_and(|n| (0..=3).contains(&n)),
            "{dir}: {holder}"
        );
        assert!(
            spec.active_deadline_seconds
                .is_some_and(|s| (60..=3600).contains(&s)),
            "{dir}: {holder}: activeDeadlineSeconds"
        );
        // Deliberately kept: see manifests/init-job.yaml.
        assert_eq!(spec.ttl_seconds_after_finished, None, "{dir}: {holder}");
        let pod = spec.template.spec.unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"), "{dir}");
        assert_eq!(pod.containers.len(), 1);
        assert_eq!(pod.containers[0].command, None);
        assert_eq!(
            pod.containers[0].args.as_deref(),
            Some(&["init".to_owned()][..])
        );
        let rules = spec.pod_failure_policy.expect("podFailurePolicy").rules;
        for rule in &rules {
            if let Some(codes) = &rule.on_exit_codes {
                assert_eq!(
                    codes.container_name.as_deref(),
                    Some(pod.containers[0].name.as_str())
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Re-applying

pub(super) fn init_job_name(objects: &[Value]) -> String {
    let (_, job) = the_one::<Job>(objects, "Job");
    job.metadata.name.unwrap()
}

#[test]
fn the_init_job_is_named_by_a_hash_of_its_content() {
    if !need::kubectl() {
        return;
    }
    let name = init_job_name(rendered(INSTALL));
    let hash = name
        .strip_prefix("spartakus-init-")
        .unwrap_or_else(|| panic!("{name}: kustomize did not add a hash suffix"));
    assert!(
        hash.len() == 10 && hash.chars().all(|c| c.is_ascii_alphanumeric()),
        "{name}"
    );
    // kustomize consumed its marker annotation.
    for (dir, objects) in all_renders() {
        let text = serde_json::to_string(objects).unwrap();
        assert!(!text.contains("internal.config.kubernetes.io"), "{dir}");
    }
    // Rendering is deterministic: re-applying unchanged manifests changes nothing.
    assert_eq!(render(&repo().join(INSTALL)), rendered(INSTALL));
}

#[test]
fn reapplying_with_a_new_image_creates_a_new_init_job_and_mutates_only_mutable_fields() {
    if !need::kubectl() {
        return;
    }
    let before = rendered(INSTALL);
    // tests/manifests/new-image: the install with `images:` set to another name and tag.
    let after = render(&repo().join("tests/manifests/new-image"));
    let c = changes(before, &after);
    let old_job = format!("Job/{NAMESPACE}/{}", init_job_name(before));
    let new_job = format!("Job/{NAMESPACE}/{}", init_job_name(&after));
    assert_ne!(old_job, new_job, "the init Job must get a new name");
    // kubectl apply creates the new Job; the old one is left, finished, and is not patched.
    assert_eq!(c.added, BTreeSet::from([new_job]));
    assert_eq!(c.removed, BTreeSet::from([old_job]));
    // Everything else of the same name is patched in place: only the CronJob's pod template,
    // which is mutable (it applies to the next Job), and only its image.
    let expected_path = "/spec/jobTemplate/spec/template/spec/containers/0/image";
    assert_eq!(
        c.changed,
        BTreeMap::from([(
            format!("CronJob/{NAMESPACE}/spartakus"),
            vec![expected_path.to_owned()]
        )])
    );
    let cronjob = by_id(&after)[&format!("CronJob/{NAMESPACE}/spartakus")];
    assert_eq!(
        cronjob.pointer(expected_path).and_then(Value::as_str),
        Some("registry.internal/mirror/spartakus:9.9.9")
    );
    // The endpoint overlay leaves the Job alone: same name, no new init run.
    assert_eq!(
        init_job_name(rendered("overlays/custom-endpoint")),
        init_job_name(before)
    );
}
