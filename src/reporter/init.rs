//! `spartakus init`: makes sure the cluster-ID ConfigMap exists, creating it once with a random
//! ID, and prints the ID; also reads an existing one for `report`.

use super::cluster::Cluster;
use super::settings::InitSettings;
use super::{CLUSTER_ID_KEY, random_bytes, uuid_v4, within};
use crate::contract::limits::check_cluster_id;
use crate::exit::usage;
use crate::exit::{Class, fail};
use crate::retry::{Deadline, Patience};
use anyhow::Result;
use std::collections::BTreeMap;

/// `spartakus init`: makes sure the ConfigMap holds a cluster ID and prints it.
pub(crate) fn run(settings: &InitSettings) -> Result<()> {
    let deadline = Deadline::after(settings.timeout);
    let id = within(
        &crate::runtime::current_thread()?,
        &deadline,
        "init",
        async {
            let mut cluster = Cluster::connect(Patience::for_run(false)).await?;
            let namespace = settings
                .namespace
                .clone()
                .unwrap_or_else(|| cluster.default_namespace().to_string());
            ensure_cluster_id(&mut cluster, &namespace, &settings.configmap, &deadline).await
        },
    )?;
    crate::exit::print(format!("{id}\n").as_bytes())
}

/// Where a command finds the cluster ID: given on the command line, else in the ConfigMap
/// `spartakus init` made (in `namespace`, or the pod's or kubeconfig's).
pub(crate) struct IdSource<'a> {
    pub given: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub configmap: &'a str,
}

/// What looking for the cluster ID found.
pub(crate) enum Lookup {
    Found(String),
    /// The ConfigMap does not exist (yet): where it was looked for.
    NoConfigMap {
        namespace: String,
        name: String,
    },
}

/// The cluster ID of `source`, as `report` and `forget` read it; one that is there but not a
/// cluster ID is refused with a message that says which ConfigMap and why.
pub(crate) async fn lookup(
    cluster: &mut Cluster,
    source: &IdSource<'_>,
    deadline: &Deadline,
) -> Result<Lookup> {
    if let Some(id) = source.given {
        return Ok(Lookup::Found(id.to_string()));
    }
    let namespace = source
        .namespace
        .map_or_else(|| cluster.default_namespace().to_string(), str::to_string);
    let name = source.configmap;
    match cluster.get_configmap(&namespace, name, deadline).await? {
        Some(data) => existing_id(&data, &namespace, name).map(Lookup::Found),
        None => Ok(Lookup::NoConfigMap {
            namespace,
            name: name.to_string(),
        }),
    }
}

async fn ensure_cluster_id(
    cluster: &mut Cluster,
    namespace: &str,
    name: &str,
    deadline: &Deadline,
) -> Result<String> {
    if let Some(data) = cluster.get_configmap(namespace, name, deadline).await? {
        let id = existing_id(&data, namespace, name)?;
        eprintln!(
            "spartakus: ConfigMap {namespace}/{name} already holds the cluster ID; left unchanged"
        );
        return Ok(id);
    }
    let id = uuid_v4(random_bytes()?);
    let labels = BTreeMap::from([(
        "app.kubernetes.io/name".to_string(),
        "spartakus".to_string(),
    )]);
    let data = BTreeMap::from([(CLUSTER_ID_KEY.to_string(), id.clone())]);
    if cluster
        .create_configmap(namespace, name, &labels, &data, deadline)
        .await?
    {
        eprintln!("spartakus: created ConfigMap {namespace}/{name} with a new cluster ID");
        return Ok(id);
    }
    // Another init won the race between our get and create: use its ID.
    eprintln!(
        "spartakus: ConfigMap {namespace}/{name} was created concurrently; using its cluster ID"
    );
    match cluster.get_configmap(namespace, name, deadline).await? {
        Some(data) => existing_id(&data, namespace, name),
        None => Err(fail(
            Class::Kubernetes,
            anyhow::anyhow!(
                "create configmaps \"{name}\" in namespace \"{namespace}\": already exists (409), yet a get finds nothing; try again"
            ),
        )),
    }
}

pub(super) fn existing_id(
    data: &BTreeMap<String, String>,
    namespace: &str,
    name: &str,
) -> Result<String> {
    let id = data.get(CLUSTER_ID_KEY).map(|s| s.trim()).unwrap_or("");
    if id.is_empty() && data.keys().any(|k| k != CLUSTER_ID_KEY) {
        // Another ConfigMap, such as the settings (`spartakus-config`): never suggest deleting it.
        let keys: Vec<&str> = data.keys().map(String::as_str).take(5).collect();
        return Err(usage(format!(
            "ConfigMap \"{name}\" in namespace \"{namespace}\" holds no {CLUSTER_ID_KEY} (its keys: {}): it is not the cluster-ID ConfigMap; the cluster ID is in the one `spartakus init` creates ({}), so drop --configmap/SPARTAKUS_CONFIGMAP or point it there",
            keys.join(", "),
            crate::cli::defaults::of(crate::cli::defaults::INIT, "configmap")
        )));
    }
    if id.is_empty() {
        return Err(usage(format!(
            "ConfigMap \"{name}\" in namespace \"{namespace}\" exists but is empty (no {CLUSTER_ID_KEY}); spartakus never changes an existing ConfigMap: delete this empty one and run `spartakus init` (the spartakus-init Job) again"
        )));
    }
    check_cluster_id(id).map_err(|e| {
        usage(format!(
            "ConfigMap \"{name}\" in namespace \"{namespace}\": {CLUSTER_ID_KEY} {e}"
        ))
    })?;
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_ids_are_checked() {
        let data = BTreeMap::from([(CLUSTER_ID_KEY.to_string(), "abc".to_string())]);
        assert_eq!(existing_id(&data, "ns", "cm").unwrap(), "abc");
        let err = existing_id(&BTreeMap::new(), "ns", "cm").unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("\"cm\"") && text.contains("\"ns\"") && text.contains("spartakus init"),
            "{text}"
        );
        assert_eq!(crate::exit::class_of(&err), Class::Usage);
        // The settings ConfigMap named by mistake: never told to delete it.
        let settings = BTreeMap::from([(
            "SPARTAKUS_ENDPOINT".to_string(),
            "https://c.example.net/api/v1".to_string(),
        )]);
        let text = format!(
            "{:#}",
            existing_id(&settings, "spartakus", "spartakus-config").unwrap_err()
        );
        assert!(
            text.contains("not the cluster-ID ConfigMap") && text.contains("SPARTAKUS_ENDPOINT"),
            "{text}"
        );
        assert!(!text.contains("delete"), "{text}");
    }
}
