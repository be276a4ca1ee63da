//! The run's receipt: a Kubernetes Event (events.k8s.io/v1) on the CronJob `spartakus`, so that
//! `kubectl describe cronjob -n spartakus spartakus` and `kubectl get events -n spartakus` show
//! what each run did: `ReportSent` (nodes, bytes, attempts, the collector's status),
//! `ReportFailed` (the error class and the one-line message), `ReportPreviewed` (a dry run) or
//! `ReportWritten` (`--output`).
//!
//! The Event holds nothing the report does not: counts, sizes, a status code, the error's class
//! and the one-line message the log ends with (which never holds a token or a node's name). It
//! names the CronJob by its UID when it can read it: `kubectl describe` finds a CronJob's Events
//! by UID, so without it the Event shows in `kubectl get events` only.
//!
//! Writing it never changes the run's outcome or exit code, and has its own short budget
//! ([`BUDGET`]), after the run's deadline: one attempt per request, no retries. Outside a pod
//! (no `SPARTAKUS_POD_NAME`, no service account of the pod) there is no CronJob to speak of, and
//! the receipt is skipped with one line. [`receipt`] and [`event`] are pure; [`record`] does the
//! I/O, through [`super::cluster`].

use super::cluster::Cluster;
use super::settings::ReportSettings;
use crate::exit::class_of;
use crate::retry::Patience;
use anyhow::Result;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use std::time::{Duration, SystemTime};

/// The whole time the receipt may take, after the run.
pub(crate) const BUDGET: Duration = Duration::from_secs(5);
/// Of which reading the CronJob's UID may take this much.
const UID_BUDGET: Duration = Duration::from_secs(2);
/// The CronJob the Event is about (the install's; the Role may read only this one).
pub const CRONJOB: &str = "spartakus";
/// `reportingController` of every receipt.
pub(crate) const CONTROLLER: &str = "spartakus.io/reporter";
/// The API server's limit on `note`, in bytes.
pub const NOTE_LIMIT: usize = 1024;
/// The API server's limit on `reportingInstance`, `action` and `reason`.
const FIELD_LIMIT: usize = 128;

/// What a report run came to, for its receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered: the uncompressed size, what went on the wire, and the collector's answer.
    Sent {
        nodes: usize,
        bytes: u64,
        bytes_on_wire: u64,
        compressed: bool,
        attempts: u32,
        status: u16,
    },
    /// `--dry-run`: printed, nothing sent.
    Previewed { nodes: usize, bytes: u64 },
    /// `--output`: written to a file, nothing sent.
    Written { nodes: usize, bytes: u64 },
}

/// What the run was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Send,
    Preview,
    Export,
}

impl Mode {
    pub(crate) fn of(settings: &ReportSettings) -> Mode {
        match (settings.dry_run, settings.output.is_some()) {
            (true, _) => Mode::Preview,
            (_, true) => Mode::Export,
            _ => Mode::Send,
        }
    }

    /// The Event's `action`.
    fn action(self) -> &'static str {
        match self {
            Mode::Send => "Report",
            Mode::Preview => "Preview",
            Mode::Export => "Export",
        }
    }
}

/// The parts of the Event that say what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Receipt {
    /// `Normal` or `Warning`.
    pub kind: &'static str,
    pub reason: &'static str,
    pub action: &'static str,
    pub note: String,
}

/// The receipt of a run in `mode` that came to `result`.
pub(crate) fn receipt(mode: Mode, result: &Result<Outcome>) -> Receipt {
    let (kind, reason, note) = match result {
        Ok(Outcome::Sent {
            nodes,
            bytes,
            bytes_on_wire,
            compressed,
            attempts,
            status,
        }) => (
            "Normal",
            "ReportSent",
            format!(
                "Report sent: {nodes} nodes, {bytes} bytes ({bytes_on_wire} bytes sent{}) in {attempts} attempt{}; the collector answered {status}",
                if *compressed { ", gzip" } else { "" },
                if *attempts == 1 { "" } else { "s" }
            ),
        ),
        Ok(Outcome::Previewed { nodes, bytes }) => (
            "Normal",
            "ReportPreviewed",
            format!(
                "Dry run: the report of {nodes} nodes ({bytes} bytes) was printed to the log; nothing was sent"
            ),
        ),
        Ok(Outcome::Written { nodes, bytes }) => (
            "Normal",
            "ReportWritten",
            format!(
                "The report of {nodes} nodes ({bytes} bytes) was written to a file (--output); nothing was sent"
            ),
        ),
        Err(error) => {
            let class = class_of(error);
            let message = format!("{error:#}");
            let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
            let code = class.code();
            let label = class.label();
            let note = format!("Report failed ({label}, exit {code}): {message}");
            ("Warning", "ReportFailed", note)
        }
    };
    Receipt {
        kind,
        reason,
        action: mode.action(),
        note: cut(note, NOTE_LIMIT),
    }
}

/// `text` cut to at most `limit` bytes at a character boundary, ending in `…` if cut.
fn cut(mut text: String, limit: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
    text
}

/// The CronJob an Event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Regarding {
    pub namespace: String,
    pub name: String,
    /// Known when it could be read; without it `kubectl describe` does not list the Event.
    pub uid: Option<String>,
}

/// The Event recording `receipt`, made at `now` by `instance` (the pod's name).
pub(crate) fn event(
    receipt: &Receipt,
    regarding: &Regarding,
    instance: &str,
    now: SystemTime,
) -> Event {
    let nanos = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let time = k8s_openapi::jiff::Timestamp::try_from(now)
        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    Event {
        metadata: ObjectMeta {
            // As client-go names Events: the object's name and the time in hex nanoseconds.
            name: Some(format!("{}.{nanos:x}", regarding.name)),
            namespace: Some(regarding.namespace.clone()),
            ..ObjectMeta::default()
        },
        event_time: Some(MicroTime(time)),
        regarding: Some(ObjectReference {
            api_version: Some("batch/v1".to_string()),
            kind: Some("CronJob".to_string()),
            name: Some(regarding.name.clone()),
            namespace: Some(regarding.namespace.clone()),
            uid: regarding.uid.clone(),
            ..ObjectReference::default()
        }),
        reporting_controller: Some(CONTROLLER.to_string()),
        reporting_instance: Some(cut(instance.to_string(), FIELD_LIMIT)),
        action: Some(receipt.action.to_string()),
        reason: Some(receipt.reason.to_string()),
        type_: Some(receipt.kind.to_string()),
        note: Some(receipt.note.clone()),
        ..Event::default()
    }
}

/// Records the receipt of a run of `settings` that came to `result`, within [`BUDGET`]. Never
/// fails: whatever happens is one log line.
pub(crate) fn record(settings: &ReportSettings, result: &Result<Outcome>) {
    let receipt = receipt(Mode::of(settings), result);
    let line = match crate::runtime::current_thread() {
        Ok(runtime) => runtime.block_on(async {
            match tokio::time::timeout(BUDGET, write(settings, &receipt)).await {
                Ok(Ok(line)) => line,
                Ok(Err(e)) => not_recorded(&format!("{e:#}")),
                Err(_) => not_recorded(&format!(
                    "no answer from the API server within {}s",
                    BUDGET.as_secs()
                )),
            }
        }),
        Err(e) => not_recorded(&format!("{e:#}")),
    };
    eprintln!("{line}");
}

fn not_recorded(why: &str) -> String {
    let why = why.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("spartakus: the receipt Event was not recorded ({why}); the run's outcome is unchanged")
}

/// Writes the Event; the line to log.
async fn write(settings: &ReportSettings, receipt: &Receipt) -> Result<String> {
    const OUTSIDE: &str = "spartakus: no receipt Event: not running in a pod (SPARTAKUS_POD_NAME is not set), so there is no CronJob to record it on";
    let patience = Patience::for_run(!settings.sending());
    let mut cluster = match Cluster::connect(patience).await {
        Ok(cluster) => cluster,
        Err(_) if settings.pod_name.is_none() => return Ok(OUTSIDE.to_string()),
        Err(e) => return Err(e),
    };
    let instance = match (&settings.pod_name, cluster.in_cluster()) {
        (Some(name), _) => name.clone(),
        (None, true) => hostname(),
        (None, false) => return Ok(OUTSIDE.to_string()),
    };
    let namespace = settings
        .namespace
        .clone()
        .unwrap_or_else(|| cluster.default_namespace().to_string());
    let uid = match tokio::time::timeout(UID_BUDGET, cluster.cronjob_uid(&namespace, CRONJOB)).await
    {
        Ok(Ok(uid)) => Some(uid),
        Ok(Err(e)) => without_uid(&format!("{e:#}")),
        Err(_) => without_uid(&format!("no answer within {}s", UID_BUDGET.as_secs())),
    };
    let regarding = Regarding {
        namespace: namespace.clone(),
        name: CRONJOB.to_string(),
        uid,
    };
    let event = event(receipt, &regarding, &instance, SystemTime::now());
    cluster.create_event(&namespace, &event).await?;
    Ok(format!(
        "spartakus: receipt recorded: Event {namespace}/{} ({}) on CronJob {namespace}/{CRONJOB}",
        event.metadata.name.as_deref().unwrap_or(""),
        receipt.reason
    ))
}

/// Logs why the CronJob's UID is unknown; the Event is written without it.
fn without_uid(why: &str) -> Option<String> {
    eprintln!(
        "spartakus: reading the CronJob {CRONJOB} failed ({why}): the receipt Event will show in `kubectl get events` but not in `kubectl describe cronjob`"
    );
    None
}

/// This machine's name: a pod's is the pod's name.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "spartakus".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{Class, fail};

    fn sent() -> Outcome {
        Outcome::Sent {
            nodes: 37,
            bytes: 2731,
            bytes_on_wire: 866,
            compressed: true,
            attempts: 1,
            status: 204,
        }
    }

    #[test]
    fn each_outcome_has_its_reason_type_and_note() {
        let r = receipt(Mode::Send, &Ok(sent()));
        assert_eq!(
            (r.kind, r.reason, r.action),
            ("Normal", "ReportSent", "Report")
        );
        assert_eq!(
            r.note,
            "Report sent: 37 nodes, 2731 bytes (866 bytes sent, gzip) in 1 attempt; the collector answered 204"
        );
        let r = receipt(
            Mode::Preview,
            &Ok(Outcome::Previewed {
                nodes: 5,
                bytes: 900,
            }),
        );
        assert_eq!(
            (r.kind, r.reason, r.action),
            ("Normal", "ReportPreviewed", "Preview")
        );
        assert!(
            r.note.contains("5 nodes") && r.note.contains("nothing was sent"),
            "{}",
            r.note
        );
        let r = receipt(
            Mode::Export,
            &Ok(Outcome::Written {
                nodes: 5,
                bytes: 900,
            }),
        );
        assert_eq!(
            (r.kind, r.reason, r.action),
            ("Normal", "ReportWritten", "Export")
        );
        assert!(r.note.contains("--output"), "{}", r.note);
        let error = fail(
            Class::Unreachable,
            anyhow::anyhow!("report not delivered within the 300s deadline:\n  connection refused"),
        );
        let r = receipt(Mode::Send, &Err(error));
        assert_eq!((r.kind, r.reason), ("Warning", "ReportFailed"));
        assert_eq!(
            r.note,
            "Report failed (collector-unreachable, exit 5): report not delivered within the 300s deadline: connection refused"
        );
    }

    #[test]
    fn the_note_fits_the_api_servers_limit() {
        let error = anyhow::anyhow!("é{}", "x".repeat(3000));
        let r = receipt(Mode::Send, &Err(error));
        assert!(r.note.len() <= NOTE_LIMIT, "{}", r.note.len());
        assert!(r.note.ends_with('…'));
        assert!(r.note.starts_with("Report failed (internal, exit 1): é"));
        assert_eq!(cut("short".into(), 10), "short");
        assert_eq!(cut("ééé".into(), 5), "é…");
        assert_eq!(cut("ééé".into(), 4), "…");
        assert_eq!(cut("abcdef".into(), 5), "ab…");
    }

    #[test]
    fn the_event_names_the_cronjob_and_the_pod() {
        let regarding = Regarding {
            namespace: "spartakus".into(),
            name: CRONJOB.into(),
            uid: Some("4f1c-uid".into()),
        };
        let at = SystemTime::UNIX_EPOCH + Duration::new(1_751_339_820, 123_456_789);
        let r = receipt(Mode::Send, &Ok(sent()));
        let e = event(&r, &regarding, "spartakus-29188997-x7k2p", at);
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["apiVersion"], "events.k8s.io/v1");
        assert_eq!(json["metadata"]["name"], "spartakus.184e024993748515");
        assert_eq!(json["metadata"]["namespace"], "spartakus");
        assert_eq!(json["eventTime"], "2025-07-01T03:17:00.123456Z");
        assert_eq!(
            json["regarding"],
            serde_json::json!({"apiVersion": "batch/v1", "kind": "CronJob", "name": "spartakus", "namespace": "spartakus", "uid": "4f1c-uid"})
        );
        assert_eq!(json["reportingController"], CONTROLLER);
        assert_eq!(json["reportingInstance"], "spartakus-29188997-x7k2p");
        assert_eq!(json["type"], "Normal");
        assert_eq!(json["reason"], "ReportSent");
        assert_eq!(json["action"], "Report");
        let without = Regarding {
            uid: None,
            ..regarding
        };
        let json = serde_json::to_value(event(&r, &without, &"p".repeat(300), at)).unwrap();
        assert!(json["regarding"].get("uid").is_none());
        assert!(json["reportingInstance"].as_str().unwrap().len() <= FIELD_LIMIT);
    }
}
