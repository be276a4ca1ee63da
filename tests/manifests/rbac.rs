//! RBAC: each service account is granted exactly what it uses, and only API clients get a
//! token.

use super::*;

/// One permission, spelled out: `cluster: nodes list`, `spartakus: configmaps/spartakus get`,
/// `spartakus: configmaps create` (any name).
fn grants(scope: &str, rule: &PolicyRule) -> Vec<String> {
    let mut out = Vec::new();
    let names = rule.resource_names.clone().unwrap_or_default();
    let names: Vec<Option<String>> = if names.is_empty() {
        vec![None]
    } else {
        names.into_iter().map(Some).collect()
    };
    for url in rule.non_resource_urls.iter().flatten() {
        for verb in &rule.verbs {
            out.push(format!("{scope}: url {url} {verb}"));
        }
    }
    for group in rule.api_groups.iter().flatten() {
        for resource in rule.resources.iter().flatten() {
            for name in &names {
                for verb in &rule.verbs {
                    let mut what = if group.is_empty() {
                        resource.clone()
                    } else {
                        format!("{group}/{resource}")
                    };
                    if let Some(name) = name {
                        what = format!("{what}/{name}");
                    }
                    out.push(format!("{scope}: {what} {verb}"));
                }
            }
        }
    }
    out
}

/// Everything each ServiceAccount of `objects` may do, through the bindings in `objects`. Fails
/// on a binding to a role that is not rendered here (a built-in one such as `view` included), on
/// subjects that are not rendered ServiceAccounts, and on roles nothing binds.
pub(super) fn permissions(objects: &[Value]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> =
        all_of::<ServiceAccount>(objects, "ServiceAccount")
            .into_iter()
            .map(|(_, sa)| {
                let key = format!(
                    "{}/{}",
                    sa.metadata.namespace.unwrap(),
                    sa.metadata.name.unwrap()
                );
                (key, BTreeSet::new())
            })
            .collect();
    let roles: BTreeMap<String, Vec<PolicyRule>> = all_of::<Role>(objects, "Role")
        .into_iter()
        .map(|(id, r)| (id, r.rules.unwrap_or_default()))
        .chain(
            all_of::<ClusterRole>(objects, "ClusterRole")
                .into_iter()
                .map(|(id, r)| {
                    assert!(r.aggregation_rule.is_none(), "{id}: aggregated");
                    (id, r.rules.unwrap_or_default())
                }),
        )
        .collect();
    let mut bound = BTreeSet::new();
    let bindings = all_of::<RoleBinding>(objects, "RoleBinding")
        .into_iter()
        .map(|(id, b)| (id, b.metadata.namespace, b.role_ref, b.subjects))
        .chain(
            all_of::<ClusterRoleBinding>(objects, "ClusterRoleBinding")
                .into_iter()
                .map(|(id, b)| (id, None, b.role_ref, b.subjects)),
        );
    for (binding, namespace, role_ref, subjects) in bindings {
        assert_eq!(role_ref.api_group, "rbac.authorization.k8s.io", "{binding}");
        let role_id = match role_ref.kind.as_str() {
            "Role" => format!(
                "Role/{}/{}",
                namespace.as_deref().expect("RoleBinding namespace"),
                role_ref.name
            ),
            "ClusterRole" => format!("ClusterRole//{}", role_ref.name),
            other => panic!("{binding}: roleRef kind {other}"),
        };
        let rules = roles
            .get(&role_id)
            .unwrap_or_else(|| panic!("{binding} binds {role_id}, which is not in the manifests"));
        bound.insert(role_id);
        let scope = namespace.clone().unwrap_or_else(|| "cluster".into());
        for subject in subjects.unwrap_or_default() {
            assert_eq!(
                subject.kind, "ServiceAccount",
                "{binding}: subject {subject:?}"
            );
            let sa_ns = subject.namespace.clone().or(namespace.clone());
            let key = format!("{}/{}", sa_ns.unwrap_or_default(), subject.name);
            let granted = out
                .get_mut(&key)
                .unwrap_or_else(|| panic!("{binding} binds {key}, which is not in the manifests"));
            for rule in rules {
                granted.extend(grants(&scope, rule));
            }
        }
    }
    for role in roles.keys() {
        assert!(bound.contains(role), "{role} is bound to nothing");
    }
    out
}

pub(super) fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn rbac_grants_each_service_account_exactly_what_it_uses() {
    if !need::kubectl() {
        return;
    }
    let init = set(&[
        "spartakus: configmaps create",
        "spartakus: configmaps/spartakus get",
    ]);
    // The receipt adds exactly two: creating its Event, and reading the one CronJob's UID that
    // `kubectl describe cronjob` matches Events by.
    let reporter = set(&[
        "cluster: nodes list",
        "spartakus: configmaps/spartakus get",
        "spartakus: events.k8s.io/events create",
        "spartakus: batch/cronjobs/spartakus get",
    ]);
    for (dir, objects) in all_renders() {
        let mut expected = BTreeMap::from([
            ("spartakus/spartakus-init".to_owned(), init.clone()),
            ("spartakus/spartakus-reporter".to_owned(), reporter.clone()),
        ]);
        if dir.starts_with("overlays/self-hosted") {
            expected.insert("spartakus/spartakus-collector".into(), BTreeSet::new());
        }
        if dir == WORKLOAD_STATS {
            let reporter = expected.get_mut("spartakus/spartakus-reporter").unwrap();
            reporter.extend(workload_stats_grants());
        }
        assert_eq!(permissions(objects), expected, "{dir}");
    }
}

/// What kustomize/components/workload-stats grants the reporter: `list`, cluster-wide, on the
/// eight kinds the statistics count, and nothing else.
fn workload_stats_grants() -> BTreeSet<String> {
    set(&[
        "cluster: namespaces list",
        "cluster: pods list",
        "cluster: services list",
        "cluster: apps/deployments list",
        "cluster: apps/statefulsets list",
        "cluster: apps/daemonsets list",
        "cluster: batch/jobs list",
        "cluster: batch/cronjobs list",
    ])
}

/// The component's role, rule by rule as written, and what the reporter lists: one grant per
/// kind of the statistics, in the API group of the path the reporter lists it at.
#[test]
fn the_workload_stats_component_grants_exactly_list_on_the_kinds_counted() {
    if !need::kubectl() {
        return;
    }
    let text = std::fs::read_to_string(
        repo().join("kustomize/components/workload-stats/kustomization.yaml"),
    )
    .unwrap();
    assert!(
        text.contains("\nkind: Component\n"),
        "a kustomize Component, for overlays to add"
    );
    let objects = rendered(WORKLOAD_STATS);
    let (_, role) = all_of::<ClusterRole>(objects, "ClusterRole")
        .into_iter()
        .find(|(id, _)| id == "ClusterRole//spartakus-workload-stats")
        .expect("the component's ClusterRole");
    let rule = |group: &str, resources: &[&str]| PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        verbs: vec!["list".to_owned()],
        ..PolicyRule::default()
    };
    assert_eq!(
        role.rules.unwrap(),
        [
            rule("", &["namespaces", "pods", "services"]),
            rule("apps", &["deployments", "statefulsets", "daemonsets"]),
            rule("batch", &["jobs", "cronjobs"]),
        ]
    );
    let lists: BTreeSet<String> = spartakus::contract::ObjectKind::ALL
        .into_iter()
        .map(|kind| {
            let path = spartakus::reporter::listing::object_list(kind).path;
            match path.strip_prefix("/apis/") {
                Some(rest) => format!(
                    "cluster: {}/{} list",
                    rest.split('/').next().unwrap(),
                    kind.name()
                ),
                None => format!("cluster: {} list", kind.name()),
            }
        })
        .collect();
    assert_eq!(
        lists,
        workload_stats_grants(),
        "what the reporter lists is what is granted"
    );
}

/// The overlay adds the role, its binding and the switch, and changes nothing else: the default
/// install's RBAC and settings stay as they are.
#[test]
fn the_workload_stats_overlay_adds_its_role_and_switch_and_nothing_else() {
    if !need::kubectl() {
        return;
    }
    let c = changes(rendered(INSTALL), rendered(WORKLOAD_STATS));
    assert_eq!(
        c.added,
        set(&[
            "ClusterRole//spartakus-workload-stats",
            "ClusterRoleBinding//spartakus-workload-stats",
        ])
    );
    assert!(c.removed.is_empty(), "{:?}", c.removed);
    assert_eq!(
        c.changed,
        BTreeMap::from([(
            format!("ConfigMap/{NAMESPACE}/spartakus-config"),
            vec!["/data/SPARTAKUS_WORKLOAD_STATS".to_owned()]
        )])
    );
    let switch = |objects: &[Value]| {
        let cm = by_id(objects)[&format!("ConfigMap/{NAMESPACE}/spartakus-config")];
        cm["data"]["SPARTAKUS_WORKLOAD_STATS"]
            .as_str()
            .map(str::to_owned)
    };
    assert_eq!(switch(rendered(WORKLOAD_STATS)).as_deref(), Some("true"));
    assert_eq!(
        switch(rendered(INSTALL)),
        None,
        "off in the default install"
    );
}

#[test]
fn each_pod_runs_as_its_own_service_account_and_only_api_clients_get_a_token() {
    if !need::kubectl() {
        return;
    }
    for (dir, objects) in all_renders() {
        let accounts: BTreeMap<String, ServiceAccount> = all_of(objects, "ServiceAccount")
            .into_iter()
            .map(|(_, sa): (_, ServiceAccount)| (sa.metadata.name.clone().unwrap(), sa))
            .collect();
        for sa in accounts.values() {
            assert_eq!(
                sa.automount_service_account_token,
                Some(false),
                "{dir}: ServiceAccount {:?}: pods opt in to a token themselves",
                sa.metadata.name
            );
        }
        for (holder, template) in pod_templates(objects) {
            let spec = template.spec.unwrap();
            let (account, token) = match holder.split('/').next().unwrap() {
                "Job" => ("spartakus-init", true),
                "CronJob" => ("spartakus-reporter", true),
                "Deployment" => ("spartakus-collector", false),
                other => panic!("{dir}: unexpected {other}"),
            };
            assert_eq!(
                spec.service_account_name.as_deref(),
                Some(account),
                "{dir}: {holder}"
            );
            assert!(
                accounts.contains_key(account),
                "{dir}: {account} not rendered"
            );
            assert_eq!(
                spec.automount_service_account_token,
                Some(token),
                "{dir}: {holder}"
            );
        }
    }
}
