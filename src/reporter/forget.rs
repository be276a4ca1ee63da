//! `spartakus forget`: ask the collector to forget this cluster. The cluster ID is the only key
//! a reporting cluster holds; with it the collector deletes every report of the cluster and its
//! share of the fleet's history (`DELETE <endpoint>/clusters/<id>`), answering the same whether
//! or not it had anything. The ID is read as `report` reads it (the ConfigMap `spartakus init`
//! made, or `--cluster-id`), and the request goes out through the report's [`Uploader`] (the
//! one retry policy, redirects, proxies, `--ca-file`).

use super::cluster::Cluster;
use super::settings::ForgetSettings;
use super::upload::{Target, Uploader, redact};
use super::{PREVIEW_CLUSTER_ID, init, within};
use crate::exit::usage;
use crate::retry::{Deadline, Patience};
use anyhow::Result;

/// Asks the collector of `settings` to forget this cluster.
pub(crate) fn run(settings: &ForgetSettings) -> Result<()> {
    let deadline = Deadline::after(settings.timeout);
    // A bad CA file stops the run before the cluster is read.
    let uploader = Uploader::new(Target {
        endpoint: settings.endpoint.clone(),
        ca_file: settings.ca_file.clone(),
        gzip: false,
        patience: Patience::for_run(false),
    })?;
    let id = match &settings.cluster_id {
        Some(id) => id.clone(),
        None => read_id(settings, &deadline)?,
    };
    if id == PREVIEW_CLUSTER_ID {
        return Err(usage(format!(
            "{PREVIEW_CLUSTER_ID} is the placeholder ID of previews, which are never sent; nothing to forget"
        )));
    }
    eprintln!(
        "spartakus: asking the collector at {} to forget cluster {id}: every report of it and its share of the fleet's history",
        redact(&settings.endpoint)
    );
    let done = uploader.delete(&url(&settings.endpoint, &id), &deadline)?;
    eprintln!(
        "spartakus: the collector answered {} after {} attempt(s): it keeps nothing of this cluster now (it answers the same whether or not it had anything); a report sent from now on is stored anew",
        done.status, done.attempts
    );
    Ok(())
}

/// The cluster ID from the ConfigMap `spartakus init` made.
fn read_id(settings: &ForgetSettings, deadline: &Deadline) -> Result<String> {
    let runtime = crate::runtime::current_thread()?;
    within(&runtime, deadline, "reading the cluster ID", async {
        let mut cluster = Cluster::connect(Patience::for_run(false)).await?;
        let source = init::IdSource {
            given: None,
            namespace: settings.namespace.as_deref(),
            configmap: &settings.configmap,
        };
        match init::lookup(&mut cluster, &source, deadline).await? {
            init::Lookup::Found(id) => Ok(id),
            init::Lookup::NoConfigMap { namespace, name } => Err(usage(format!(
                "no cluster ID: ConfigMap \"{name}\" in namespace \"{namespace}\" does not exist, so this cluster has no ID to forget (`spartakus init` makes it); pass --cluster-id to forget another"
            ))),
        }
    })
}

/// Where the collector whose report URL is `endpoint` takes the deletion request for `id`:
/// `<endpoint>/clusters/<id>`, the ID percent-encoded, a query kept.
pub(crate) fn url(endpoint: &str, id: &str) -> String {
    let (base, query) = match endpoint.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (endpoint, String::new()),
    };
    format!(
        "{}/clusters/{}{query}",
        base.trim_end_matches('/'),
        crate::text::url_part(id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deletion_url() {
        let id = "3f2b1c4d-0000-4000-8000-0123456789ab";
        assert_eq!(
            url("https://c.example.com/api/v1", id),
            format!("https://c.example.com/api/v1/clusters/{id}")
        );
        assert_eq!(
            url("http://10.0.0.1:8080/api/v1/", "a/b?c#d%e f"),
            "http://10.0.0.1:8080/api/v1/clusters/a%2Fb%3Fc%23d%25e%20f"
        );
        assert_eq!(
            url("https://c.example.com/api/v1?tenant=x", "id"),
            "https://c.example.com/api/v1/clusters/id?tenant=x"
        );
    }
}
