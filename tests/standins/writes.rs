//! The stand-in's answers beyond lists: `Status` bodies as kube-apiserver writes them, Events
//! (validated, recorded, listed through both APIs), the CronJob and its Jobs, and kubectl on
//! namespaces and events.

use super::{Api, assert_status};
use crate::support::apiserver::{ApiServer, Config, DEFAULT_USER, batch};
use crate::support::need;
use crate::support::objects::Resource;
use crate::support::util::TempDir;
use serde_json::{Value, json};

const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/spartakus/events";

#[test]
fn error_bodies_are_those_of_kube_apiserver() {
    let config = Config::default()
        .with_forbidden("deployments", "list")
        .with_fault("pods", 429, 1)
        .with_fault("services", 500, 1)
        .with_fault("statefulsets", 504, 1);
    let server = ApiServer::start(config);
    let api = Api::new(&server);
    let (status, body, _) = api.get_with("/api/v1/namespaces", None);
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
    );
    let (status, body) = api.get("/apis/apps/v1/deployments");
    assert_eq!(status, 403);
    assert_eq!(
        body["message"],
        format!(
            "deployments.apps is forbidden: User \"{DEFAULT_USER}\" cannot list resource \"deployments\" in API group \"apps\" at the cluster scope"
        )
    );
    assert_eq!(
        body["details"],
        json!({"group": "apps", "kind": "deployments"})
    );
    let (status, body) = api.get("/api/v1/namespaces/no-such-namespace");
    assert_eq!(status, 404);
    assert_eq!(
        body["message"],
        "namespaces \"no-such-namespace\" not found"
    );
    assert_eq!(
        body["details"],
        json!({"name": "no-such-namespace", "kind": "namespaces"})
    );
    let (status, body) = api.get("/apis/batch/v1/namespaces/spartakus/cronjobs/other");
    assert_eq!(status, 404);
    assert_eq!(body["message"], "cronjobs.batch \"other\" not found");
    assert_eq!(
        body["details"],
        json!({"name": "other", "group": "batch", "kind": "cronjobs"})
    );
    let (status, body) = api.get("/api/v1/secrets");
    assert_eq!(status, 404);
    assert_eq!(
        body["message"],
        "the server could not find the requested resource"
    );
    // 429 says when to come back, in the header and in the details; 500 and 504 do not.
    let (status, body, retry_after) = api.get_with("/api/v1/pods", Some(server.token()));
    assert_eq!((status, retry_after.as_deref()), (429, Some("1")));
    assert_status(&body, 429, "TooManyRequests");
    assert_eq!(
        body["message"],
        "Too many requests, please try again later."
    );
    assert_eq!(body["details"]["retryAfterSeconds"], 1);
    let (status, body, retry_after) = api.get_with("/api/v1/services", Some(server.token()));
    assert_eq!((status, retry_after), (500, None));
    assert_status(&body, 500, "InternalError");
    let (status, body) = api.get("/apis/apps/v1/statefulsets");
    assert_eq!(status, 504);
    assert_status(&body, 504, "Timeout");
    let (status, body) = api.post("/api/v1/nodes", &json!({}));
    assert_eq!(status, 405);
    assert_status(&body, 405, "MethodNotAllowed");
}

#[test]
fn an_expired_continue_token_hands_out_one_that_goes_on() {
    let server = ApiServer::start(Config::default().with_expired_continue("namespaces", 1));
    let api = Api::new(&server);
    // 410 hands out a token that goes on (inconsistently) from where the expired one was.
    let (_, first) = api.get("/api/v1/namespaces?limit=10");
    let token = first["metadata"]["continue"].as_str().unwrap();
    let (status, gone) = api.get(&format!("/api/v1/namespaces?limit=10&continue={token}"));
    assert_eq!(status, 410);
    assert_status(&gone, 410, "Expired");
    let inconsistent = gone["metadata"]["continue"].as_str().unwrap();
    let (status, rest) = api.get(&format!(
        "/api/v1/namespaces?limit=100&continue={inconsistent}"
    ));
    assert_eq!(status, 200, "{rest}");
    let total = server.object_count(Resource::Namespaces);
    assert_eq!(rest["items"].as_array().unwrap().len(), total - 10);
    // A token of another list is refused.
    let (status, body) = api.get(&format!("/api/v1/pods?limit=10&continue={token}"));
    assert_eq!(status, 400);
    assert_status(&body, 400, "BadRequest");
}

/// An Event as a reporter would post it.
fn event(note: &str) -> Value {
    json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"generateName": "spartakus-", "namespace": "spartakus"},
        "eventTime": "2026-12-01T03:17:05.123456Z",
        "reportingController": "spartakus.io/reporter",
        "reportingInstance": "spartakus-29000000-x7k2p",
        "action": "Report",
        "reason": "ReportSent",
        "type": "Normal",
        "note": note,
        "regarding": {"apiVersion": "batch/v1", "kind": "CronJob", "namespace": "spartakus", "name": "spartakus"},
    })
}

#[test]
fn events_are_created_recorded_and_listed() {
    let server = ApiServer::start(Config::default());
    let api = Api::new(&server);
    let (status, created) = api.post(EVENTS, &event("report sent: 42 nodes"));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["kind"], "Event");
    let name = created["metadata"]["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("spartakus-") && name.len() == "spartakus-".len() + 5);
    for field in ["uid", "resourceVersion", "creationTimestamp"] {
        assert!(created["metadata"][field].is_string(), "{field}: {created}");
    }
    let recorded = server.events("spartakus");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].note.as_deref(), Some("report sent: 42 nodes"));
    assert_eq!(
        recorded[0].regarding.as_ref().unwrap().name.as_deref(),
        Some("spartakus")
    );
    let (status, list) = api.get(EVENTS);
    assert_eq!((status, list["kind"].as_str()), (200, Some("EventList")));
    assert_eq!(list["items"][0]["note"], "report sent: 42 nodes");
    // core/v1, as kubectl reads them.
    let (_, core) = api.get("/api/v1/namespaces/spartakus/events");
    assert_eq!(core["apiVersion"], "v1");
    assert_eq!(core["items"][0]["message"], "report sent: 42 nodes");
    assert_eq!(core["items"][0]["involvedObject"]["kind"], "CronJob");
    assert_eq!(
        core["items"][0]["reportingComponent"],
        "spartakus.io/reporter"
    );
    let (status, one) = api.get(&format!("{EVENTS}/{name}"));
    assert_eq!(
        (status, one["metadata"]["name"].as_str()),
        (200, Some(name.as_str()))
    );
}

/// What a real server refuses, with its words.
#[test]
fn invalid_events_get_the_answers_of_a_real_server() {
    let server = ApiServer::start(Config::default());
    let api = Api::new(&server);
    let mut missing = event("x");
    for field in [
        "eventTime",
        "reportingController",
        "reportingInstance",
        "action",
        "reason",
        "regarding",
    ] {
        missing.as_object_mut().unwrap().remove(field);
    }
    missing["type"] = json!("Info");
    let (status, invalid) = api.post(EVENTS, &missing);
    assert_eq!(status, 422, "{invalid}");
    assert_status(&invalid, 422, "Invalid");
    assert_eq!(invalid["details"]["group"], "events.k8s.io");
    let fields: Vec<&str> = invalid["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    for field in [
        "involvedObject.namespace",
        "reportingController",
        "reportingInstance",
        "action",
        "reason",
        "eventTime",
        "type",
    ] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    let message = invalid["message"].as_str().unwrap();
    assert!(
        message.starts_with("Event.events.k8s.io \"spartakus-"),
        "{message}"
    );
    assert!(
        message.contains("type: Invalid value: \"\": has invalid value: Info"),
        "{message}"
    );
    let (status, long) = api.post(EVENTS, &event(&"n".repeat(1025)));
    assert_eq!(status, 422);
    assert!(
        long["message"]
            .as_str()
            .unwrap()
            .contains("can have at most 1024 characters")
    );
    assert_eq!(api.post(EVENTS, &event(&"n".repeat(1024))).0, 201);
    let mut named = event("x");
    named["metadata"] = json!({"name": "Not_A_Name"});
    assert_eq!(api.post(EVENTS, &named).0, 422);
    let mut core_body = event("x");
    core_body["apiVersion"] = json!("v1");
    assert_eq!(api.post(EVENTS, &core_body).0, 400);
    assert_eq!(
        server.events("spartakus").len(),
        1,
        "only the valid one was kept"
    );
    assert_eq!(server.requests_of("events").len(), 5);
}

#[test]
fn event_creation_can_be_forbidden() {
    let server = ApiServer::start(Config::default().with_forbidden("events", "create"));
    let api = Api::new(&server);
    let (status, body) = api.post(EVENTS, &event("x"));
    assert_eq!(status, 403);
    assert_eq!(
        body["message"],
        format!(
            "events.events.k8s.io is forbidden: User \"{DEFAULT_USER}\" cannot create resource \"events\" in API group \"events.k8s.io\" in the namespace \"spartakus\""
        )
    );
    assert!(server.events("spartakus").is_empty());
    assert_eq!(api.get(EVENTS).0, 200, "listing is still allowed");
    server.set_forbidden("events", "create", false);
    assert_eq!(api.post(EVENTS, &event("x")).0, 201);
}

#[test]
fn the_cronjob_and_its_jobs_by_name() {
    let server = ApiServer::start(Config::default());
    let api = Api::new(&server);
    let (status, cronjob) = api.get("/apis/batch/v1/namespaces/spartakus/cronjobs/spartakus");
    assert_eq!((status, cronjob["kind"].as_str()), (200, Some("CronJob")));
    assert_eq!(cronjob["spec"]["schedule"], "17 3 * * *");
    let uid = cronjob["metadata"]["uid"].as_str().unwrap().to_string();
    let job_name = format!("spartakus-{}", batch::LAST_SCHEDULE / 60);
    let (status, job) = api.get(&format!(
        "/apis/batch/v1/namespaces/spartakus/jobs/{job_name}"
    ));
    assert_eq!(status, 200, "{job}");
    let owner = &job["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].as_str(), owner["uid"].as_str()),
        (Some("CronJob"), Some(uid.as_str()))
    );
    assert_eq!(
        job["metadata"]["labels"]["batch.kubernetes.io/job-name"],
        job_name.as_str()
    );
    // Configured by the test: a manual Job, another schedule, no CronJob.
    let manual = batch::job("spartakus", "spartakus-manual", None, 1_764_000_000);
    server.insert_job(manual);
    let (status, manual) = api.get("/apis/batch/v1/namespaces/spartakus/jobs/spartakus-manual");
    assert_eq!(status, 200);
    assert!(manual["metadata"].get("ownerReferences").is_none());
    let cron = server.cronjob("spartakus", "spartakus").unwrap();
    server.insert_job(batch::scheduled_job(&cron, 1_764_559_020));
    assert_eq!(
        api.get("/apis/batch/v1/namespaces/spartakus/jobs/spartakus-29409317")
            .0,
        200
    );
    assert!(server.remove_cronjob("spartakus", "spartakus"));
    assert_eq!(
        api.get("/apis/batch/v1/namespaces/spartakus/cronjobs/spartakus")
            .0,
        404
    );
    let bare = ApiServer::start(Config::default().without_batch_objects());
    let (status, body) = Api::new(&bare).get(&format!(
        "/apis/batch/v1/namespaces/spartakus/jobs/{job_name}"
    ));
    assert_eq!(status, 404);
    assert_eq!(
        body["details"],
        json!({"name": job_name, "group": "batch", "kind": "jobs"})
    );
    let elsewhere = batch::cronjob("team-a", "spartakus");
    assert_ne!(
        elsewhere.metadata.uid.as_deref(),
        Some(uid.as_str()),
        "UIDs differ by namespace"
    );
}

/// Runs kubectl against `server`; its standard output.
fn kubectl(server: &ApiServer, dir: &TempDir, args: &[&str]) -> String {
    let kubeconfig = dir.join("kubeconfig");
    server.write_kubeconfig(&kubeconfig, Some("spartakus"));
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {stderr}\n{stdout}"
    );
    stdout
}

#[test]
fn kubectl_lists_namespaces_in_chunks_and_reads_events() {
    if !need::kubectl() {
        return;
    }
    let server = ApiServer::start(Config::default().with_namespaces(40));
    let dir = TempDir::new("kubectl-ns");
    let out = kubectl(
        &server,
        &dir,
        &["get", "namespaces", "--chunk-size=7", "-o", "name"],
    );
    let layout = server.layout();
    let want: Vec<String> = (0..40)
        .map(|k| format!("namespace/{}", layout.namespace(k)))
        .collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
    let lists = server.requests_of("namespaces");
    assert_eq!(lists.len(), 6, "{lists:?}");
    assert!(
        lists
            .iter()
            .all(|r| r.query("limit").as_deref() == Some("7"))
    );
    let (status, created) = Api::new(&server).post(EVENTS, &event("from the test"));
    assert_eq!(status, 201);
    let out = kubectl(
        &server,
        &dir,
        &["get", "events", "-n", "spartakus", "-o", "name"],
    );
    assert_eq!(
        out.trim(),
        format!("event/{}", created["metadata"]["name"].as_str().unwrap())
    );
}
