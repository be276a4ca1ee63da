//! What makes each shape look like its provider: names, labels, annotations, taints, extra
//! addresses, provider IDs and the identifying strings planted in them. Everything common to all
//! shapes (the kubelet's labels, the company's labels, resources, images...) is in `build`.

use super::tables::{self, Machine, NFD_FEATURES};
use super::{Shape, h};
use crate::support::util::{base36, fnv, pick, uuid_from};
use std::collections::BTreeMap;

/// What [`parts`] is given: node `index` and the values derived from it that shapes share.
pub struct Ctx {
    pub index: usize,
    /// The node's number among those of its shape.
    pub n: usize,
    pub shape: Shape,
    /// InternalIP; `c` and `d` are its last two octets.
    pub ip: String,
    pub c: u8,
    pub d: u8,
    pub pod_cidr: String,
    pub team: &'static str,
}

impl Ctx {
    /// The node's hash for `salt`.
    fn h(&self, salt: u64) -> u64 {
        h(self.index, salt)
    }
}

/// The shape-specific part of a node.
pub struct Parts {
    pub name: String,
    pub machine: &'static Machine,
    pub arch: &'static str,
    pub kernel: &'static str,
    pub cloud_manager: Option<&'static str>,
    pub provider_id: Option<String>,
    /// Whether `spec.podCIDR` is set (by the node IPAM controller).
    pub pod_cidr: bool,
    pub company_resource: bool,
    /// node-problem-detector's conditions, as GKE runs it.
    pub extra_conditions: bool,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// `(key, value, effect)`; an empty value is left out.
    pub taints: Vec<(&'static str, &'static str, &'static str)>,
    /// Addresses between InternalIP (always first) and Hostname (always last).
    pub addresses: Vec<(&'static str, String)>,
    pub volumes: Vec<String>,
    /// Identifying strings not otherwise found by `identifying_strings`.
    pub secrets: Vec<String>,
}

impl Parts {
    fn label(&mut self, key: &str, value: impl Into<String>) {
        self.labels.insert(key.to_string(), value.into());
    }

    fn annotate(&mut self, key: &str, value: impl Into<String>) {
        self.annotations.insert(key.to_string(), value.into());
    }

    fn instance_type(&mut self, kind: &str) {
        self.label("beta.kubernetes.io/instance-type", kind);
        self.label("node.kubernetes.io/instance-type", kind);
    }

    fn secrets<const N: usize>(&mut self, secrets: [String; N]) {
        self.secrets.extend(secrets);
    }
}

/// The shape-specific part of the node `x` describes.
pub fn parts(x: &Ctx) -> Parts {
    let table = tables::table(x.shape);
    let mut p = Parts {
        name: String::new(),
        machine: pick(table.machines, x.h(50)),
        arch: table.arch,
        kernel: table.kernel,
        cloud_manager: table.cloud_manager,
        provider_id: None,
        pod_cidr: true,
        company_resource: false,
        extra_conditions: false,
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        taints: Vec::new(),
        addresses: Vec::new(),
        volumes: Vec::new(),
        secrets: Vec::new(),
    };
    match x.shape {
        Shape::Eks => eks(x, &mut p),
        Shape::Gke => gke(x, &mut p),
        Shape::Aks | Shape::Windows => aks(x, &mut p),
        Shape::Kind => kind(x, &mut p),
        Shape::K3s => k3s(x, &mut p),
        Shape::OpenShift => openshift(x, &mut p),
        Shape::BareMetal => bare_metal(x, &mut p),
    }
    p
}

fn eks(x: &Ctx, p: &mut Parts) {
    let n = x.n;
    if n.is_multiple_of(3) {
        p.machine = pick(tables::EKS_ARM64, x.h(50));
        p.arch = "arm64";
        p.kernel = "6.1.141-155.222.amzn2023.aarch64";
    }
    let zone = *pick(&["a", "b", "c", "d"], x.h(51));
    let zone_id = *pick(&["use1-az1", "use1-az2", "use1-az4", "use1-az6"], x.h(51));
    p.name = format!("ip-10-213-{}-{}.ec2.internal", x.c, x.d);
    let instance = format!("i-0{:016x}", x.h(52));
    let nodegroup = format!("acme-{}-ng-{}", x.team, x.h(53) % 6);
    let ami = format!("ami-0{:016x}", h(n % 4, 54));
    let launch_template = format!("lt-0{:016x}", h(n % 6, 55));
    let cluster_hash = format!("{:016x}{:016x}", h(0, 56), h(0, 57));
    p.instance_type(p.machine.kind);
    let spot = x.h(58).is_multiple_of(4);
    p.label(
        "eks.amazonaws.com/capacityType",
        if spot { "SPOT" } else { "ON_DEMAND" },
    );
    p.label("eks.amazonaws.com/nodegroup", &nodegroup);
    p.label("eks.amazonaws.com/nodegroup-image", &ami);
    p.label("eks.amazonaws.com/sourceLaunchTemplateId", &launch_template);
    p.label("eks.amazonaws.com/sourceLaunchTemplateVersion", "7");
    p.label("k8s.io/cloud-provider-aws", &cluster_hash);
    p.label("topology.k8s.aws/zone-id", zone_id);
    p.label("topology.kubernetes.io/region", "us-east-1");
    p.label("topology.kubernetes.io/zone", format!("us-east-1{zone}"));
    p.annotate("alpha.kubernetes.io/provided-node-ip", &x.ip);
    let node_id = format!("{{\"ebs.csi.aws.com\":\"{instance}\"}}");
    p.annotate("csi.volume.kubernetes.io/nodeid", node_id);
    if p.machine.gpus > 0 {
        p.taints.push(("nvidia.com/gpu", "present", "NoSchedule"));
    }
    if n % 2 == 1 {
        let external = format!("203.0.113.{}", 1 + n % 250);
        let dns = format!("ec2-{}.compute-1.amazonaws.com", external.replace('.', "-"));
        p.addresses.push(("ExternalIP", external));
        p.addresses.push(("ExternalDNS", dns));
    } else {
        let volume = format!("kubernetes.io/csi/ebs.csi.aws.com^vol-0{:016x}", x.h(59));
        p.volumes.push(volume);
    }
    p.addresses.push(("InternalDNS", p.name.clone()));
    p.provider_id = Some(format!("aws:///us-east-1{zone}/{instance}"));
    p.pod_cidr = false;
    p.company_resource = n % 5 == 2;
    p.secrets([instance, nodegroup, ami, launch_template, cluster_hash]);
}

fn gke(x: &Ctx, p: &mut Parts) {
    let pool = match (p.machine.gpus, x.n % 3) {
        (1.., _) => "acme-gpu-pool",
        (_, 0) => "default-pool",
        _ => "acme-batch-pool",
    };
    let zone = format!("us-central1-{}", pick(&["a", "b", "c", "f"], x.h(51)));
    let pool_hash = fnv(pool) as u32;
    p.name = format!(
        "gke-acme-prod-{pool}-{pool_hash:08x}-{}",
        base36(x.index as u64, 4)
    );
    let project = "acme-prod-483920";
    let instance_id = (1_000_000_000_000_000_000 + x.h(52) % 8_000_000_000_000_000_000).to_string();
    p.label("beta.kubernetes.io/instance-type", p.machine.kind);
    for (key, value) in [
        ("cloud.google.com/gke-boot-disk", "pd-balanced"),
        ("cloud.google.com/gke-container-runtime", "containerd"),
        ("cloud.google.com/gke-max-pods-per-node", "110"),
        ("cloud.google.com/gke-nodepool", pool),
        ("cloud.google.com/gke-os-distribution", "cos"),
        ("cloud.google.com/gke-provisioning", "standard"),
        ("cloud.google.com/gke-stack-type", "IPV4"),
        ("cloud.google.com/machine-family", "e2"),
        ("cloud.google.com/private-node", "false"),
        ("failure-domain.beta.kubernetes.io/region", "us-central1"),
        ("node.kubernetes.io/instance-type", p.machine.kind),
        ("topology.kubernetes.io/region", "us-central1"),
        ("failure-domain.beta.kubernetes.io/zone", zone.as_str()),
        ("topology.gke.io/zone", zone.as_str()),
        ("topology.kubernetes.io/zone", zone.as_str()),
    ] {
        p.label(key, value);
    }
    let applied: Vec<String> = (p.labels.iter())
        .filter(|(k, _)| k.starts_with("cloud.google.com/gke-"))
        .take(4)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    p.annotate("container.googleapis.com/instance_id", &instance_id);
    let disk = format!("projects/{project}/zones/{zone}/instances/{}", p.name);
    let node_id = format!("{{\"pd.csi.storage.gke.io\":\"{disk}\"}}");
    p.annotate("csi.volume.kubernetes.io/nodeid", node_id);
    p.annotate("node.gke.io/last-applied-node-labels", applied.join(","));
    p.annotate("node.gke.io/last-applied-node-taints", "");
    if p.machine.gpus > 0 {
        p.taints.push(("nvidia.com/gpu", "present", "NoSchedule"));
    }
    if x.n % 4 == 1 {
        p.addresses
            .push(("ExternalIP", format!("198.51.100.{}", 1 + x.n % 250)));
    }
    p.provider_id = Some(format!("gce://{project}/{zone}/{}", p.name));
    p.extra_conditions = true;
    p.secrets([instance_id, format!("{project}/{zone}")]);
}

/// The labels every AKS node has with the same value.
const AKS_LABELS: [(&str, &str); 6] = [
    ("failure-domain.beta.kubernetes.io/region", "westeurope"),
    (
        "kubernetes.azure.com/nodepool-type",
        "VirtualMachineScaleSets",
    ),
    ("kubernetes.azure.com/role", "agent"),
    ("kubernetes.azure.com/storageprofile", "managed"),
    ("kubernetes.azure.com/storagetier", "Premium_LRS"),
    ("topology.kubernetes.io/region", "westeurope"),
];

fn aks(x: &Ctx, p: &mut Parts) {
    let windows = x.shape == Shape::Windows;
    let subscription = uuid_from(h(0, 60), h(0, 61));
    let group = "mc_acme-prod-rg_acme-aks_westeurope";
    let (pool, vmss) = if windows {
        ("acmew", "aksacmew".to_string())
    } else {
        let pool = *pick(&["acmesys", "acmeapps", "acmegpu"], x.h(62));
        let vmss = format!("aks-{pool}-{}-vmss", 31_415_926 + fnv(pool) % 1000);
        (pool, vmss)
    };
    p.name = format!("{vmss}{}", base36(x.index as u64, 6));
    let kubelet_identity = uuid_from(h(0, 63), h(0, 64));
    let zone = format!("westeurope-{}", 1 + x.h(51) % 3);
    let (image, sku) = match windows {
        true => (
            "AKSWindows-2022-containerd-20348.3807.250610",
            "Windows2022",
        ),
        false => ("AKSUbuntu-2204gen2containerd-202506.02.0", "Ubuntu"),
    };
    if windows {
        p.label("node.kubernetes.io/windows-build", "10.0.20348");
    }
    p.instance_type(p.machine.kind);
    for (key, value) in AKS_LABELS {
        p.label(key, value);
    }
    for key in ["agentpool", "kubernetes.azure.com/agentpool"] {
        p.label(key, pool);
    }
    for key in [
        "failure-domain.beta.kubernetes.io/zone",
        "topology.disk.csi.azure.com/zone",
        "topology.kubernetes.io/zone",
    ] {
        p.label(key, &zone);
    }
    let upper = group.to_uppercase();
    p.label("kubernetes.azure.com/cluster", &upper);
    let properties = format!("{:016x}", h(0, 65));
    p.label(
        "kubernetes.azure.com/consolidated-additional-properties",
        properties,
    );
    p.label(
        "kubernetes.azure.com/kubelet-identity-client-id",
        &kubelet_identity,
    );
    let mode = if pool == "acmesys" { "system" } else { "user" };
    p.label("kubernetes.azure.com/mode", mode);
    p.label("kubernetes.azure.com/node-image-version", image);
    p.label("kubernetes.azure.com/os-sku", sku);
    let disk = format!(
        "{{\"disk.csi.azure.com\":\"{0}\",\"file.csi.azure.com\":\"{0}\"}}",
        p.name
    );
    p.annotate("csi.volume.kubernetes.io/nodeid", disk);
    if windows {
        p.taints.push(("os", "windows", "NoSchedule"));
    } else if p.machine.gpus > 0 {
        p.taints.push(("sku", "gpu", "NoSchedule"));
    }
    p.provider_id = Some(format!(
        "azure:///subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachineScaleSets/{vmss}/virtualMachines/{}",
        x.n
    ));
    p.secrets([
        subscription,
        group.to_string(),
        upper,
        kubelet_identity,
        vmss,
    ]);
}

fn kind(x: &Ctx, p: &mut Parts) {
    if x.index == 3 {
        p.name = "acme-devkind-control-plane".to_string();
        p.label("node-role.kubernetes.io/control-plane", "");
        p.label(
            "node.kubernetes.io/exclude-from-external-load-balancers",
            "",
        );
        p.taints
            .push(("node-role.kubernetes.io/control-plane", "", "NoSchedule"));
    } else {
        p.name = format!("acme-devkind-worker{}", x.n + 1);
    }
    let socket = "unix:///run/containerd/containerd.sock";
    p.annotate("kubeadm.alpha.kubernetes.io/cri-socket", socket);
    p.provider_id = Some(format!("kind://docker/acme-devkind/{}", p.name));
}

fn k3s(x: &Ctx, p: &mut Parts) {
    p.name = format!("acme-edge-rpi-{:06}", x.n);
    let site = format!("store-{:04}-acme", x.h(70) % 9000);
    let v = x.h(71).to_be_bytes();
    let mac = format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        v[0] | 2,
        v[1],
        v[2],
        v[3],
        v[4],
        v[5]
    );
    let config_hash = (base36(x.h(72), 13) + &base36(x.h(73), 13)).to_uppercase();
    p.instance_type("k3s");
    p.label("acme-corp.example/site", &site);
    let env =
        "{\"K3S_TOKEN\":\"********\",\"K3S_URL\":\"https://edge-master.acme-corp.example:6443\"}";
    for (key, value) in [
        ("alpha.kubernetes.io/provided-node-ip", x.ip.clone()),
        (
            "flannel.alpha.coreos.com/backend-data",
            format!("{{\"VNI\":1,\"VtepMAC\":\"{mac}\"}}"),
        ),
        ("flannel.alpha.coreos.com/backend-type", "vxlan".to_string()),
        (
            "flannel.alpha.coreos.com/kube-subnet-manager",
            "true".to_string(),
        ),
        ("flannel.alpha.coreos.com/public-ip", x.ip.clone()),
        ("k3s.io/hostname", p.name.clone()),
        ("k3s.io/internal-ip", x.ip.clone()),
        (
            "k3s.io/node-args",
            format!("[\"agent\",\"--node-label\",\"acme-corp.example/site={site}\"]"),
        ),
        ("k3s.io/node-config-hash", config_hash.clone()),
        ("k3s.io/node-env", env.to_string()),
    ] {
        p.annotate(key, value);
    }
    p.provider_id = Some(format!("k3s://{}", p.name));
    p.secrets([
        site,
        mac,
        config_hash,
        "edge-master.acme-corp.example".to_string(),
    ]);
}

fn openshift(x: &Ctx, p: &mut Parts) {
    let infra = "acme-ocp-7xk2p";
    let zone = if x.n.is_multiple_of(2) {
        let zone = format!("us-east-2{}", pick(&["a", "b", "c"], x.h(51)));
        let instance = format!("i-0{:016x}", x.h(52));
        p.name = format!("ip-10-213-{}-{}.us-east-2.compute.internal", x.c, x.d);
        p.provider_id = Some(format!("aws:///{zone}/{instance}"));
        p.secrets.push(instance);
        zone
    } else {
        let server = uuid_from(x.h(52), x.h(53));
        p.name = format!("{infra}-worker-0-{}", base36(x.index as u64, 5));
        p.provider_id = Some(format!("openstack:///{server}"));
        p.machine = &tables::OPENSHIFT_OSP[0];
        p.cloud_manager = Some("openstack-cloud-controller-manager");
        p.secrets.push(server);
        "nova".to_string()
    };
    let suffix = base36(x.h(54) % 60_466_176, 5);
    let machine = format!("openshift-machine-api/{infra}-worker-{zone}-{suffix}");
    let rendered = format!("rendered-worker-{:016x}{:016x}", h(0, 80), h(0, 81));
    let chassis = uuid_from(x.h(82), x.h(83));
    p.instance_type(p.machine.kind);
    p.label("node-role.kubernetes.io/worker", "");
    p.label("node.openshift.io/os_id", "rhcos");
    p.label("topology.kubernetes.io/zone", zone);
    let (ip, name) = (&x.ip, &p.name);
    let [e, f, g] = [85, 86, 87].map(|salt| x.h(salt) as u8);
    let mac = format!("02:{:02x}:{:02x}:{e:02x}:{f:02x}:{g:02x}", x.c, x.d);
    let gateway = format!(
        "{{\"default\":{{\"mode\":\"shared\",\"bridge-id\":\"br-ex\",\"interface-id\":\"br-ex_{name}\",\"mac-address\":\"{mac}\",\"ip-addresses\":[\"{ip}/16\"],\"next-hops\":[\"10.213.0.1\"],\"node-port-enable\":\"true\",\"vlan-id\":\"0\"}}}}"
    );
    for (key, value) in [
        ("k8s.ovn.org/host-cidrs", format!("[\"{ip}/16\"]")),
        ("k8s.ovn.org/l3-gateway-config", gateway),
        ("k8s.ovn.org/node-chassis-id", chassis.clone()),
        (
            "k8s.ovn.org/node-primary-ifaddr",
            format!("{{\"ipv4\":\"{ip}/16\"}}"),
        ),
        (
            "k8s.ovn.org/node-subnets",
            format!("{{\"default\":[\"{}\"]}}", x.pod_cidr),
        ),
        ("machine.openshift.io/machine", machine.clone()),
        (
            "machineconfiguration.openshift.io/controlPlaneTopology",
            "HighlyAvailable".to_string(),
        ),
        (
            "machineconfiguration.openshift.io/currentConfig",
            rendered.clone(),
        ),
        (
            "machineconfiguration.openshift.io/desiredConfig",
            rendered.clone(),
        ),
        (
            "machineconfiguration.openshift.io/desiredDrain",
            format!("uncordon-{rendered}"),
        ),
        (
            "machineconfiguration.openshift.io/lastAppliedDrain",
            format!("uncordon-{rendered}"),
        ),
        ("machineconfiguration.openshift.io/reason", String::new()),
        (
            "machineconfiguration.openshift.io/state",
            "Done".to_string(),
        ),
    ] {
        p.annotate(key, value);
    }
    p.pod_cidr = false;
    p.secrets([machine, rendered, chassis, infra.to_string()]);
}

fn bare_metal(x: &Ctx, p: &mut Parts) {
    let rack = x.h(90) % 40;
    p.name = format!("acme-dc2-r{rack:02}-n{:05}.infra.acme-corp.example", x.n);
    let asset = format!("ASSET-ACME-{:08X}", x.h(91) as u32);
    let offset = |base: [u8; 4], shift: u32| {
        let n = u32::from_be_bytes(base).wrapping_add((x.index as u32) << shift);
        std::net::Ipv4Addr::from(n).to_string()
    };
    let bmc = offset([10, 250, 0, 4], 0);
    let tunnel = offset([100, 66, 0, 1], 6);
    let rack_name = format!("r{rack:02}-acme-dc2");
    p.label("node-role.kubernetes.io/worker", "");
    p.label("acme-corp.example/rack", &rack_name);
    p.label(
        "topology.kubernetes.io/zone",
        format!("dc2-hall-{}", rack / 10),
    );
    for feature in NFD_FEATURES {
        let value = if feature == "system-os_release.ID" {
            "rocky"
        } else {
            "true"
        };
        p.label(&format!("feature.node.kubernetes.io/{feature}"), value);
    }
    for (key, value) in [
        (
            "kubeadm.alpha.kubernetes.io/cri-socket",
            "unix:///var/run/containerd/containerd.sock".to_string(),
        ),
        (
            "nfd.node.kubernetes.io/feature-labels",
            NFD_FEATURES.join(","),
        ),
        (
            "nfd.node.kubernetes.io/master.version",
            "v0.17.3".to_string(),
        ),
        ("projectcalico.org/IPv4Address", format!("{}/16", x.ip)),
        ("projectcalico.org/IPv4VXLANTunnelAddr", tunnel.clone()),
        ("acme-corp.example/asset-tag", asset.clone()),
        ("acme-corp.example/bmc-address", bmc.clone()),
    ] {
        p.annotate(key, value);
    }
    if x.n.is_multiple_of(3) {
        p.addresses
            .push(("ExternalIP", format!("192.0.2.{}", 1 + x.n % 250)));
    }
    p.company_resource = x.n % 2 == 1;
    p.secrets([asset, bmc, tunnel, rack_name]);
}
