//! `spartakus report`: the cluster ID, the load spreading wait, the report built from the API
//! server's version and every node (and the workload statistics when asked) as it is listed,
//! then previewed, written or sent, and the run's receipt.

use super::cluster::Cluster;
use super::listing::{NodeSink, PAGE_SIZE};
use super::nodelist::ListStats;
use super::receipt::{self, Outcome};
use super::settings::ReportSettings;
use super::upload::{self, Payload, Target, Uploader};
use super::{PREVIEW_CLUSTER_ID, extensions, init, random_bytes, spread, uuid_v4, within};
use crate::contract::{FORMAT_VERSION, NodeFacts, Report, ReportWriter, build_node};
use crate::contract::{node_id, random_node_id};
use crate::exit::usage;
use crate::exit::{Class, fail};
use crate::retry::{Deadline, Patience};
use anyhow::{Context, Result};
use std::io::Write;

/// What was built, before it is sent.
pub(crate) struct Built {
    pub payload: Payload,
    pub nodes: usize,
    pub stats: ListStats,
    /// API requests made for the report, retries included.
    pub requests: usize,
}

/// `spartakus report`: builds the report per `settings`, then previews, saves or sends it, and
/// records what came of it as an Event on the CronJob (see [`receipt`]).
pub(crate) fn run(settings: &ReportSettings) -> Result<()> {
    let outcome = run_report(settings);
    receipt::record(settings, &outcome);
    outcome.map(drop)
}

fn run_report(settings: &ReportSettings) -> Result<Outcome> {
    let mut deadline = Deadline::after(settings.timeout);
    // Bad extensions, a bad CA file: configuration errors, found before the cluster is touched
    // (and before any spread wait).
    let extensions = match &settings.extensions {
        Some(path) => extensions::load(path).map_err(|e| fail(Class::Usage, e))?,
        None => Vec::new(),
    };
    let patience = Patience::for_run(!settings.sending());
    let uploader = match (&settings.endpoint, settings.sending()) {
        (Some(endpoint), true) => Some(Uploader::new(Target {
            endpoint: endpoint.clone(),
            ca_file: settings.ca_file.clone(),
            gzip: settings.gzip,
            patience,
        })?),
        _ => None,
    };
    announce(settings);
    let runtime = crate::runtime::current_thread()?;
    let (mut cluster, cluster_id) = within(&runtime, &deadline, "reading the cluster ID", async {
        let mut cluster = Cluster::connect(patience).await?;
        let id = cluster_id(&mut cluster, settings, &deadline).await?;
        Ok((cluster, id))
    })?;
    if spread_wait(settings, &cluster_id) {
        // The deadline bounds the work, not the wait.
        deadline = Deadline::after(settings.timeout);
    }
    let built = within(
        &runtime,
        &deadline,
        "reading the cluster",
        build(
            &mut cluster,
            cluster_id,
            extensions,
            settings.workload_stats,
            &deadline,
        ),
    )?;
    drop(cluster);
    drop(runtime);
    eprintln!(
        "spartakus: listed {} nodes ({} page{}, {} API requests{}); report is {} bytes, {} compressed",
        built.nodes,
        built.stats.pages,
        if built.stats.pages == 1 { "" } else { "s" },
        built.requests,
        if built.stats.restarts > 0 {
            format!(", {} restarts", built.stats.restarts)
        } else {
            String::new()
        },
        built.payload.raw_len(),
        built.payload.gzip_len()
    );
    deliver(settings, uploader, &built, &deadline)
}

/// Says what is sent and where, or that nothing is.
fn announce(settings: &ReportSettings) {
    match &settings.endpoint {
        Some(endpoint) if settings.sending() => {
            if endpoint
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
            {
                eprintln!(
                    "spartakus: note: the endpoint is plain HTTP, unencrypted; use it only for a collector inside your own network"
                );
            }
            eprintln!(
                "spartakus: reporting to {}: cluster ID, Kubernetes version, and per node its OS, kernel, architecture, runtime and kubelet versions, cloud provider and capacity{}; no names, addresses or labels",
                upload::redact(endpoint),
                if settings.workload_stats {
                    "; counts and ages of namespaces, pods, services and workloads"
                } else {
                    ""
                }
            )
        }
        _ => eprintln!("spartakus: building the report to preview it; sending nothing"),
    }
}

/// Waits out this cluster's place in the spread window, for a scheduled run that sends.
/// Returns whether it waited.
fn spread_wait(settings: &ReportSettings, cluster_id: &str) -> bool {
    if settings.spread.is_zero() || !settings.sending() {
        return false;
    }
    let delay = spread::delay(cluster_id, settings.spread);
    let now = crate::time::now_secs() as u64;
    match spread::wait(settings.job_name.as_deref(), now, delay) {
        Some(wait) => {
            eprintln!(
                "spartakus: spreading the load: this cluster reports {}s into its {}s window; waiting {}s",
                delay.as_secs(),
                settings.spread.as_secs(),
                wait.as_secs()
            );
            std::thread::sleep(wait);
            true
        }
        None if settings.job_name.as_deref() == Some("") => {
            eprintln!(
                "spartakus: the pod's Job name is unknown (no batch.kubernetes.io/job-name label before Kubernetes 1.27): reporting at once, without load spreading"
            );
            false
        }
        None => {
            eprintln!("spartakus: not a scheduled run: reporting at once");
            false
        }
    }
}

/// Writes the report to the file, or previews it, or sends it.
fn deliver(
    settings: &ReportSettings,
    uploader: Option<Uploader>,
    built: &Built,
    deadline: &Deadline,
) -> Result<Outcome> {
    let (nodes, bytes) = (built.nodes, built.payload.raw_len());
    if let Some(path) = &settings.output {
        let mut file = std::fs::File::create(path)
            .with_context(|| format!("creating {}", path.display()))
            .map_err(|e| fail(Class::Usage, e))?;
        built
            .payload
            .write_raw(&mut file)
            .and_then(|_| file.flush())
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "spartakus: report written to {}; nothing sent",
            path.display()
        );
        return Ok(Outcome::Written { nodes, bytes });
    }
    if settings.dry_run {
        eprintln!("spartakus: dry run: nothing sent");
        // Decompressed as it is written, as sending reads it: never held whole.
        crate::exit::print_with(|out| {
            built.payload.write_raw(out)?;
            out.write_all(b"\n")
        })?;
        return Ok(Outcome::Previewed { nodes, bytes });
    }
    let Some(uploader) = uploader else {
        return Err(usage("no collector endpoint"));
    };
    let delivered = uploader.send(&built.payload, deadline)?;
    eprintln!(
        "spartakus: report delivered: {} after {} attempt(s), {} bytes sent",
        delivered.status, delivered.attempts, delivered.bytes_on_wire
    );
    Ok(Outcome::Sent {
        nodes,
        bytes,
        bytes_on_wire: delivered.bytes_on_wire,
        compressed: delivered.compressed,
        attempts: delivered.attempts,
        status: delivered.status,
    })
}

/// The cluster ID: from the settings, else from the ConfigMap `spartakus init` made.
async fn cluster_id(
    cluster: &mut Cluster,
    settings: &ReportSettings,
    deadline: &Deadline,
) -> Result<String> {
    let source = init::IdSource {
        given: settings.cluster_id.as_deref(),
        namespace: settings.namespace.as_deref(),
        configmap: &settings.configmap,
    };
    match init::lookup(cluster, &source, deadline).await? {
        init::Lookup::Found(id) => Ok(id),
        // A preview before installing is worth having; it is never sent.
        // (--output writes a real report, which needs the real ID.)
        init::Lookup::NoConfigMap { namespace, name }
            if settings.dry_run && settings.output.is_none() =>
        {
            eprintln!(
                "spartakus: ConfigMap {namespace}/{name} does not exist yet (`spartakus init` creates it); previewing with the placeholder cluster ID {PREVIEW_CLUSTER_ID}"
            );
            Ok(PREVIEW_CLUSTER_ID.to_string())
        }
        init::Lookup::NoConfigMap { namespace, name } => Err(usage(format!(
            "no cluster ID: ConfigMap \"{name}\" in namespace \"{namespace}\" does not exist; it is created once by `spartakus init` (the spartakus-init Job): run that first, or pass --cluster-id"
        ))),
    }
}

/// Reads the API server version and every node (and, with `workload_stats`, the workload
/// statistics), and builds the compressed report.
pub(crate) async fn build(
    cluster: &mut Cluster,
    cluster_id: String,
    extensions: Vec<crate::contract::Extension>,
    workload_stats: bool,
    deadline: &Deadline,
) -> Result<Built> {
    let master_version = cluster.git_version(deadline).await?;
    let header = Report {
        version: FORMAT_VERSION.to_string(),
        timestamp: crate::time::now_secs().to_string(),
        cluster_id,
        master_version: Some(master_version),
        nodes: Vec::new(),
        extensions,
        workloads: None,
    };
    let mut sink = ReportSink::new(header);
    let stats = cluster.list_nodes(PAGE_SIZE, deadline, &mut sink).await?;
    if workload_stats {
        let workloads = cluster.workload_stats(deadline).await;
        if let Some(writer) = sink.writer.as_mut() {
            writer.set_workloads(workloads);
        }
    }
    if sink.missing_uid > 0 {
        eprintln!(
            "spartakus: {} nodes had no metadata.uid; they were given random IDs for this report",
            sink.missing_uid
        );
    }
    let (gzip, raw_len, nodes) = sink.finish()?;
    let key = uuid_v4(random_bytes()?);
    Ok(Built {
        payload: Payload::new(gzip, raw_len, key),
        nodes,
        stats,
        requests: cluster.requests,
    })
}

/// Counts the bytes written through it (the uncompressed report size).
struct Counting<W: Write> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

type Gz = flate2::write::GzEncoder<Vec<u8>>;

/// Anonymizes each listed node and streams it into the compressed report.
struct ReportSink {
    header: Report,
    writer: Option<ReportWriter<std::io::BufWriter<Counting<Gz>>>>,
    missing_uid: usize,
}

impl ReportSink {
    fn new(header: Report) -> Self {
        ReportSink {
            header,
            writer: None,
            missing_uid: 0,
        }
    }

    fn finish(self) -> Result<(Vec<u8>, u64, usize)> {
        let writer = self
            .writer
            .ok_or_else(|| anyhow::anyhow!("internal error: the node list was never started"))?;
        let nodes = writer.node_count();
        let clamps = writer.clamps();
        if !clamps.is_empty() {
            eprintln!(
                "spartakus: {} value(s) were cut to the report's limits ({clamps}): see README, \"What a report contains\"",
                clamps.total()
            );
        }
        let counting = writer
            .finish()?
            .into_inner()
            .map_err(|e| anyhow::anyhow!("compressing the report: {}", e.error()))?;
        let gzip = counting.inner.finish().context("compressing the report")?;
        Ok((gzip, counting.count, nodes))
    }
}

impl NodeSink for ReportSink {
    fn restart(&mut self) -> Result<()> {
        // Level 1: the report is repetitive, so it compresses almost as well, at a fraction of the CPU.
        let gz = Gz::new(Vec::new(), flate2::Compression::fast());
        let counting = Counting {
            inner: gz,
            count: 0,
        };
        self.writer = Some(ReportWriter::start(
            std::io::BufWriter::with_capacity(32 << 10, counting),
            &self.header,
        )?);
        self.missing_uid = 0;
        Ok(())
    }

    fn partial(&self) -> bool {
        self.writer.as_ref().is_some_and(|w| w.node_count() > 0)
    }

    fn node(&mut self, facts: NodeFacts) -> Result<()> {
        let uid = facts.metadata.uid.as_deref().unwrap_or("");
        let id = match node_id(&self.header.cluster_id, uid) {
            Some(id) => id,
            None => {
                self.missing_uid += 1;
                random_node_id(random_bytes()?)
            }
        };
        let node = build_node(&facts, id);
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("internal error: the node list was never started"))?;
        writer.node(node).context("compressing the report")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_restart_forgets_nodes() {
        let header = Report {
            timestamp: "1".into(),
            cluster_id: "c".into(),
            ..Report::default()
        };
        let mut sink = ReportSink::new(header);
        let facts = |uid: &str| NodeFacts {
            metadata: crate::contract::anonymize::FactsMetadata {
                uid: Some(uid.into()),
            },
            ..NodeFacts::default()
        };
        sink.restart().unwrap();
        assert!(!sink.partial());
        sink.node(facts("a")).unwrap();
        assert!(sink.partial());
        sink.restart().unwrap();
        sink.node(facts("b")).unwrap();
        sink.node(facts("")).unwrap();
        assert_eq!(sink.missing_uid, 1);
        let (gzip, raw_len, nodes) = sink.finish().unwrap();
        assert_eq!(nodes, 2);
        let payload = Payload::new(gzip, raw_len, "k".into());
        let mut raw = Vec::new();
        payload.write_raw(&mut raw).unwrap();
        assert_eq!(raw.len() as u64, raw_len);
        let report: Report = serde_json::from_slice(&raw).unwrap();
        assert_eq!(report.nodes.len(), 2);
        assert_eq!(report.nodes[0].id, node_id("c", "b").unwrap());
    }
}
