//! Realistic Node objects, generated deterministically from their index so that any number of
//! them can be served page by page without holding them.
//!
//! The shape of node `i` is [`shape`]`(i)`: EKS, GKE, AKS, kind, k3s, OpenShift, Windows and
//! bare metal in turn. Each is 10-15 KB of JSON like a real node: about 40 images with two names
//! each, conditions, addresses, labels, annotations and managedFields. Identifying strings are
//! planted on purpose (see [`identifying_strings`]) and all of them contain something a report
//! can never contain (`acme`, unusual IP ranges, cloud instance IDs, random hex...).

use std::fmt::Write as _;

/// The provider a node looks like it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    Eks,
    Gke,
    Aks,
    Kind,
    K3s,
    OpenShift,
    Windows,
    BareMetal,
}

/// All shapes, in the order [`shape`] cycles through them.
pub const SHAPES: [Shape; 8] = [
    Shape::Eks,
    Shape::Gke,
    Shape::Aks,
    Shape::Kind,
    Shape::K3s,
    Shape::OpenShift,
    Shape::Windows,
    Shape::BareMetal,
];

/// The shape of node `index`.
pub fn shape(index: usize) -> Shape {
    SHAPES[index % SHAPES.len()]
}

/// The company-specific extended resource some nodes advertise (it names the company).
pub const COMPANY_RESOURCE: &str = "widgets.acme-corp.example/fpga";

// ---------------------------------------------------------------------------------------------
// Deterministic pseudo-randomness.
// ---------------------------------------------------------------------------------------------

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A hash of the node index and a salt naming what it is for.
fn h(index: usize, salt: u64) -> u64 {
    splitmix(splitmix(index as u64 ^ 0x5eed_0000_0000_0000) ^ salt)
}

fn fnv(text: &str) -> u64 {
    let mut x: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        x = (x ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    x
}

/// The item `hash` picks out of `items`.
fn pick<T>(items: &[T], hash: u64) -> &T {
    &items[(hash % items.len() as u64) as usize]
}

fn hex64(hash: u64) -> String {
    format!("{hash:016x}")
}

fn hex128(a: u64, b: u64) -> String {
    format!("{a:016x}{b:016x}")
}

fn uuid(a: u64, b: u64) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_be_bytes());
    bytes[8..].copy_from_slice(&b.to_be_bytes());
    super::util::uuid_from_bytes(bytes)
}

fn base36(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while n > 0 || out.len() < width {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).expect("ascii")
}

/// `metadata.uid` of node `index`: a version-4 UUID whose last 48 bits are a bijection of the
/// index, so every node's UID is different.
pub fn node_uid(index: usize) -> String {
    let low = (index as u64).wrapping_mul(0x9e37_79b9_7f4b) & 0xffff_ffff_ffff;
    let high = h(index, 1);
    uuid(high, (h(index, 2) & 0xffff_0000_0000_0000) | low)
}

fn ipv4(n: u32) -> String {
    let [a, b, c, d] = n.to_be_bytes();
    format!("{a}.{b}.{c}.{d}")
}

/// The node's InternalIP: 10.213.0.0/16 onwards, one per node.
fn internal_ip_num(index: usize) -> u32 {
    u32::from_be_bytes([10, 213, 0, 4]).wrapping_add(index as u32)
}

// ---------------------------------------------------------------------------------------------
// The generated node.
// ---------------------------------------------------------------------------------------------

struct Image {
    repo: String,
    tag: String,
    size: u64,
}

struct Gen {
    shape: Shape,
    name: String,
    uid: String,
    resource_version: u64,
    created: u64,
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
    pod_cidr: Option<String>,
    provider_id: Option<String>,
    taints: Vec<(&'static str, &'static str, &'static str)>,
    capacity: Vec<(String, String)>,
    allocatable: Vec<(String, String)>,
    extra_conditions: bool,
    ready: bool,
    addresses: Vec<(&'static str, String)>,
    machine_id: String,
    system_uuid: String,
    boot_id: String,
    kernel: &'static str,
    os_image: &'static str,
    runtime: &'static str,
    kubelet: &'static str,
    os: &'static str,
    arch: &'static str,
    images: Vec<Image>,
    volumes: Vec<String>,
    cloud_manager: Option<&'static str>,
    /// Identifying strings beyond the fields above (label and annotation values, IDs...).
    secrets: Vec<String>,
}

struct Machine {
    kind: &'static str,
    cpu: u32,
    gib: u32,
    pods: u32,
    gpus: u32,
}

const fn m(kind: &'static str, cpu: u32, gib: u32, pods: u32, gpus: u32) -> Machine {
    Machine {
        kind,
        cpu,
        gib,
        pods,
        gpus,
    }
}

const EKS_AMD64: &[Machine] = &[
    m("m5.2xlarge", 8, 32, 58, 0),
    m("m6i.4xlarge", 16, 64, 234, 0),
    m("c6i.8xlarge", 32, 64, 234, 0),
    m("r6i.2xlarge", 8, 64, 58, 0),
    m("g5.12xlarge", 48, 192, 234, 4),
];
const EKS_ARM64: &[Machine] = &[
    m("m7g.2xlarge", 8, 32, 58, 0),
    m("c7g.4xlarge", 16, 32, 234, 0),
];
const GKE_MACHINES: &[Machine] = &[
    m("e2-standard-8", 8, 32, 110, 0),
    m("n2-standard-16", 16, 64, 110, 0),
    m("n2d-highmem-8", 8, 64, 110, 0),
    m("a2-highgpu-1g", 12, 85, 110, 1),
];
const AKS_MACHINES: &[Machine] = &[
    m("Standard_D8s_v5", 8, 32, 110, 0),
    m("Standard_D16ds_v5", 16, 64, 110, 0),
    m("Standard_E8as_v5", 8, 64, 110, 0),
    m("Standard_NC24ads_A100_v4", 24, 220, 110, 1),
];
const OPENSHIFT_AWS: &[Machine] = &[
    m("m6i.2xlarge", 8, 32, 250, 0),
    m("m6i.4xlarge", 16, 64, 250, 0),
];
const OPENSHIFT_OSP: &[Machine] = &[m("ocp.w1.xlarge", 16, 64, 250, 0)];
const WINDOWS_MACHINES: &[Machine] = &[
    m("Standard_D8s_v5", 8, 32, 30, 0),
    m("Standard_D4s_v5", 4, 16, 30, 0),
];
const METAL_MACHINES: &[Machine] = &[
    m("PowerEdge-R760", 64, 512, 110, 0),
    m("PowerEdge-R760xa", 64, 1024, 110, 8),
    m("ThinkSystem-SR650-V3", 96, 768, 110, 0),
];

const TEAMS: &[&str] = &[
    "payments", "ledger", "search", "billing", "identity", "data", "web", "ml", "ops", "notify",
];

const THIRD_PARTY: &[&str] = &[
    "quay.io/prometheus/node-exporter:v1.9.1",
    "quay.io/prometheus/prometheus:v3.4.1",
    "quay.io/prometheus-operator/prometheus-config-reloader:v0.83.0",
    "docker.io/grafana/promtail:3.5.1",
    "docker.io/grafana/grafana:12.0.2",
    "registry.k8s.io/ingress-nginx/controller:v1.12.3",
    "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.15.0",
    "registry.k8s.io/metrics-server/metrics-server:v0.7.2",
    "registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.13.0",
    "registry.k8s.io/sig-storage/livenessprobe:v2.15.0",
    "registry.k8s.io/sig-storage/csi-provisioner:v5.2.0",
    "registry.k8s.io/sig-storage/csi-attacher:v4.8.1",
    "quay.io/jetstack/cert-manager-controller:v1.18.1",
    "quay.io/jetstack/cert-manager-webhook:v1.18.1",
    "quay.io/jetstack/cert-manager-cainjector:v1.18.1",
    "docker.io/bitnami/redis:7.4.3",
    "docker.io/bitnami/postgresql:17.5.0",
    "docker.io/library/nginx:1.27.5-alpine",
    "docker.io/library/busybox:1.37.0",
    "ghcr.io/fluxcd/source-controller:v1.6.1",
    "ghcr.io/fluxcd/kustomize-controller:v1.6.0",
    "ghcr.io/external-secrets/external-secrets:v0.17.0",
    "quay.io/argoproj/argocd:v3.0.6",
    "docker.io/istio/proxyv2:1.26.1",
    "docker.io/istio/pilot:1.26.1",
    "cr.fluentbit.io/fluent/fluent-bit:4.0.3",
    "docker.elastic.co/beats/filebeat:8.18.2",
    "docker.io/datadog/agent:7.66.1",
    "quay.io/kiwigrid/k8s-sidecar:1.30.3",
    "ghcr.io/kyverno/kyverno:v1.14.2",
    "docker.io/velero/velero:v1.16.1",
];

/// Labels node-feature-discovery puts on bare-metal nodes.
const NFD_FEATURES: [&str; 10] = [
    "cpu-cpuid.AVX2",
    "cpu-cpuid.AVX512F",
    "cpu-cpuid.SHA",
    "cpu-cpuid.VMX",
    "cpu-hardware_multithreading",
    "kernel-config.NO_HZ_FULL",
    "memory-numa",
    "pci-10de.present",
    "storage-nonrotationaldisk",
    "system-os_release.ID",
];

const ACME_APPS: &[&str] = &[
    "acme-payments/ledger-api",
    "acme-payments/card-gateway",
    "acme-search/indexer",
    "acme-search/query-frontend",
    "acme-billing/invoice-worker",
    "acme-identity/sso-bridge",
    "acme-data/etl-runner",
    "acme-web/storefront",
    "acme-ml/fraud-scorer",
    "acme-ops/backup-agent",
    "acme-notify/mailer",
    "acme-inventory/stock-sync",
];

fn system_images(shape: Shape) -> &'static [&'static str] {
    match shape {
        Shape::Eks => &[
            "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon-k8s-cni:v1.19.5-eksbuild.1",
            "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon-k8s-cni-init:v1.19.5-eksbuild.1",
            "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon/aws-network-policy-agent:v1.2.1-eksbuild.1",
            "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/kube-proxy:v1.33.0-minimal-eksbuild.2",
            "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/coredns:v1.12.1-eksbuild.2",
            "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/aws-ebs-csi-driver:v1.44.0",
            "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/pause:3.10",
            "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/eks-pod-identity-agent:v0.1.29",
        ],
        Shape::Gke => &[
            "gke.gcr.io/gke-metrics-agent:1.15.6-gke.0",
            "gke.gcr.io/kube-proxy-amd64:v1.33.2-gke.1240000",
            "gke.gcr.io/fluent-bit:v1.8.12-gke.32",
            "gke.gcr.io/gcp-compute-persistent-disk-csi-driver:v1.17.4-gke.0",
            "gke.gcr.io/netd:v0.8.2-gke.3",
            "gke.gcr.io/ip-masq-agent:v2.11.0-gke.12",
            "gke.gcr.io/pause:3.10",
            "gke.gcr.io/csi-node-driver-registrar:v2.13.0-gke.2",
        ],
        Shape::Aks => &[
            "mcr.microsoft.com/oss/kubernetes/kube-proxy:v1.33.2",
            "mcr.microsoft.com/oss/kubernetes/pause:3.10",
            "mcr.microsoft.com/containernetworking/azure-cns:v1.6.27",
            "mcr.microsoft.com/containernetworking/azure-cni:v1.6.27",
            "mcr.microsoft.com/oss/kubernetes-csi/azuredisk-csi:v1.33.1",
            "mcr.microsoft.com/oss/kubernetes-csi/azurefile-csi:v1.33.1",
            "mcr.microsoft.com/oss/v2/kubernetes/coredns:v1.12.1-1",
            "mcr.microsoft.com/azuremonitor/containerinsights/ciprod:3.1.27",
        ],
        Shape::Kind => &[
            "docker.io/kindest/kindnetd:v20250512-df8de77b",
            "docker.io/kindest/local-path-provisioner:v20250214-acbabc1a",
            "docker.io/kindest/local-path-helper:v20241212-8ac705d0",
            "registry.k8s.io/kube-proxy:v1.33.1",
            "registry.k8s.io/kube-apiserver:v1.33.1",
            "registry.k8s.io/coredns/coredns:v1.12.0",
            "registry.k8s.io/etcd:3.5.21-0",
            "registry.k8s.io/pause:3.10",
        ],
        Shape::K3s => &[
            "docker.io/rancher/mirrored-pause:3.6",
            "docker.io/rancher/mirrored-coredns-coredns:1.12.1",
            "docker.io/rancher/local-path-provisioner:v0.0.31",
            "docker.io/rancher/mirrored-metrics-server:v0.7.2",
            "docker.io/rancher/klipper-helm:v0.9.5-build20250306",
            "docker.io/rancher/klipper-lb:v0.4.13",
            "docker.io/rancher/mirrored-library-traefik:3.3.6",
            "docker.io/rancher/mirrored-library-busybox:1.36.1",
        ],
        Shape::OpenShift => &[
            "quay.io/openshift-release-dev/ocp-v4.0-art-dev:4.20.0-ovn-kubernetes",
            "quay.io/openshift-release-dev/ocp-v4.0-art-dev:4.20.0-multus-cni",
            "registry.redhat.io/ubi9/ubi-minimal:9.6",
            "quay.io/openshift-release-dev/ocp-v4.0-art-dev:4.20.0-node-exporter",
            "registry.redhat.io/rhel9/support-tools:9.6",
            "registry.redhat.io/openshift4/ose-csi-node-driver-registrar-rhel9:v4.20",
            "registry.redhat.io/openshift4/ose-aws-ebs-csi-driver-rhel9:v4.20",
            "quay.io/openshift-release-dev/ocp-v4.0-art-dev:4.20.0-pod",
        ],
        Shape::Windows => &[
            "mcr.microsoft.com/windows/servercore:ltsc2022",
            "mcr.microsoft.com/windows/nanoserver:ltsc2022",
            "mcr.microsoft.com/oss/kubernetes/pause:3.10-windows-ltsc2022-amd64",
            "mcr.microsoft.com/oss/kubernetes-csi/azuredisk-csi:v1.33.1-windows-hp",
            "mcr.microsoft.com/containernetworking/azure-cns:v1.6.27-windows",
            "mcr.microsoft.com/azuremonitor/containerinsights/ciprod:win-3.1.27",
            "mcr.microsoft.com/dotnet/framework/aspnet:4.8.1-windowsservercore-ltsc2022",
            "mcr.microsoft.com/oss/kubernetes/windows-gmsa-webhook:v0.12.1",
        ],
        Shape::BareMetal => &[
            "quay.io/calico/node:v3.30.1",
            "quay.io/calico/cni:v3.30.1",
            "quay.io/calico/kube-controllers:v3.30.1",
            "quay.io/calico/typha:v3.30.1",
            "registry.k8s.io/kube-proxy:v1.33.2",
            "registry.k8s.io/pause:3.10",
            "registry.k8s.io/nfd/node-feature-discovery:v0.17.3",
            "nvcr.io/nvidia/k8s-device-plugin:v0.17.2",
        ],
    }
}

fn company_registry(shape: Shape) -> &'static str {
    match shape {
        Shape::Eks => "487213950614.dkr.ecr.us-east-1.amazonaws.com",
        Shape::Gke => "us-docker.pkg.dev/acme-prod-483920/acme-apps",
        Shape::Aks | Shape::Windows => "acmeprodregistry.azurecr.io",
        Shape::Kind => "registry.acme-corp.example/dev",
        Shape::K3s => "registry.acme-corp.example/edge",
        Shape::OpenShift => "image-registry.openshift-image-registry.svc:5000/acme-prod",
        Shape::BareMetal => "harbor.acme-corp.example/acme",
    }
}

fn images(index: usize, shape: Shape) -> Vec<Image> {
    let mut out = Vec::with_capacity(40);
    let mut add = |name: &str, salt: u64| {
        let (repo, tag) = name.rsplit_once(':').expect("image with a tag");
        out.push(Image {
            repo: repo.to_string(),
            tag: tag.to_string(),
            size: 4_000_000 + splitmix(fnv(name) ^ salt) % 900_000_000,
        });
    };
    for name in system_images(shape) {
        add(name, 0);
    }
    let start = h(index, 10) as usize;
    for k in 0..18 {
        add(THIRD_PARTY[(start + k) % THIRD_PARTY.len()], 0);
    }
    let start = h(index, 11) as usize;
    let registry = company_registry(shape);
    for k in 0..10 {
        let app = ACME_APPS[(start + k) % ACME_APPS.len()];
        let v = h(index, 12 + k as u64);
        let name = format!(
            "{registry}/{app}:v{}.{}.{}-acme.{}",
            1 + v % 4,
            v / 4 % 30,
            v / 120 % 12,
            base36(v / 1440 % 46_656, 3)
        );
        add(&name, 1);
    }
    out
}

/// Resource names and quantities, sorted by name.
type Quantities = Vec<(String, String)>;

fn ki(gib: u32, less: u64) -> String {
    format!("{}Ki", u64::from(gib) * 1_048_576 - less)
}

/// Capacity and allocatable for a machine, in the units and spelling kubelet reports.
fn resources(
    index: usize,
    mach: &Machine,
    hugepages: bool,
    gpu_name: Option<&str>,
    company: bool,
    disk_ki: u64,
) -> (Quantities, Quantities) {
    let jitter = h(index, 20) % 200_000;
    let mem_less = 250_000 + jitter;
    let mut cap = vec![
        ("cpu".to_string(), mach.cpu.to_string()),
        ("ephemeral-storage".to_string(), format!("{disk_ki}Ki")),
    ];
    let mut alloc = vec![
        (
            "cpu".to_string(),
            format!("{}m", mach.cpu * 1000 - 80 - mach.cpu * 10),
        ),
        (
            "ephemeral-storage".to_string(),
            format!("{}", disk_ki * 1024 / 100 * 90),
        ),
    ];
    if hugepages {
        cap.push(("hugepages-1Gi".to_string(), "0".to_string()));
        cap.push(("hugepages-2Mi".to_string(), "0".to_string()));
        alloc.push(("hugepages-1Gi".to_string(), "0".to_string()));
        alloc.push(("hugepages-2Mi".to_string(), "0".to_string()));
    }
    cap.push(("memory".to_string(), ki(mach.gib, mem_less)));
    alloc.push((
        "memory".to_string(),
        ki(
            mach.gib,
            mem_less + 1_048_576 + u64::from(mach.gib) * 10_000,
        ),
    ));
    if let Some(gpu) = gpu_name.filter(|_| mach.gpus > 0) {
        cap.push((gpu.to_string(), mach.gpus.to_string()));
        alloc.push((gpu.to_string(), mach.gpus.to_string()));
    }
    cap.push(("pods".to_string(), mach.pods.to_string()));
    alloc.push(("pods".to_string(), mach.pods.to_string()));
    if company {
        cap.push((COMPANY_RESOURCE.to_string(), "2".to_string()));
        alloc.push((COMPANY_RESOURCE.to_string(), "2".to_string()));
    }
    cap.sort();
    alloc.sort();
    (cap, alloc)
}

fn l(key: &str, value: impl Into<String>) -> (String, String) {
    (key.to_string(), value.into())
}

fn generate(index: usize) -> Gen {
    let shape = shape(index);
    let ip_num = internal_ip_num(index);
    let ip = ipv4(ip_num);
    let [_, _, c, d] = ip_num.to_be_bytes();
    let pod_cidr_num = u32::from_be_bytes([100, 96, 0, 0]).wrapping_add((index as u32) << 8);
    let pod_cidr = format!("{}/24", ipv4(pod_cidr_num));
    let team = *pick(TEAMS, h(index, 30));
    let team_label = format!("team-{team}-acme");
    let cost_center = format!("cc-{}-acme", 4000 + h(index, 31) % 900);
    let created = 1_735_689_600 + h(index, 32) % (180 * 86_400);
    let mut secrets = vec![team_label.clone(), cost_center.clone()];
    let mut labels = Vec::new();
    let mut annotations = Vec::new();
    let mut taints = Vec::new();
    let mut addresses = vec![("InternalIP", ip.clone())];
    let mut volumes = Vec::new();
    let company_labels = |labels: &mut Vec<(String, String)>| {
        labels.push(l("acme-corp.example/team", team_label.clone()));
        labels.push(l("acme-corp.example/cost-center", cost_center.clone()));
    };
    let machine_id = hex128(h(index, 40), h(index, 41));
    let system_uuid_raw = uuid(h(index, 42), h(index, 43));
    let boot_id = uuid(h(index, 44), h(index, 45));
    let linux_labels = |labels: &mut Vec<(String, String)>, arch: &str, name: &str| {
        labels.push(l("beta.kubernetes.io/arch", arch));
        labels.push(l("beta.kubernetes.io/os", "linux"));
        labels.push(l("kubernetes.io/arch", arch));
        labels.push(l("kubernetes.io/hostname", name));
        labels.push(l("kubernetes.io/os", "linux"));
    };
    let owner = format!("sre-{team}@acme-corp.example");
    secrets.push(owner.clone());
    // The owner, then what every kubelet or node controller sets.
    let common_annotations = |annotations: &mut Vec<(String, String)>| {
        annotations.push(l("acme-corp.example/owner", owner.clone()));
        annotations.push(l("node.alpha.kubernetes.io/ttl", "0"));
        annotations.push(l(
            "volumes.kubernetes.io/controller-managed-attach-detach",
            "true",
        ));
    };
    let gen_n = index / SHAPES.len();

    let g = match shape {
        Shape::Eks => {
            let arm = gen_n % 3 == 0;
            let mach = if arm {
                pick(EKS_ARM64, h(index, 50))
            } else {
                pick(EKS_AMD64, h(index, 50))
            };
            let arch = if arm { "arm64" } else { "amd64" };
            let zone = *pick(&["a", "b", "c", "d"], h(index, 51));
            let zone_id = *pick(
                &["use1-az1", "use1-az2", "use1-az4", "use1-az6"],
                h(index, 51),
            );
            let name = format!("ip-10-213-{c}-{d}.ec2.internal");
            let instance = format!("i-0{:016x}", h(index, 52));
            let nodegroup = format!("acme-{team}-ng-{}", h(index, 53) % 6);
            let ami = format!("ami-0{:016x}", h(gen_n % 4, 54));
            let lt = format!("lt-0{:016x}", h(gen_n % 6, 55));
            let cp_hash = hex128(h(0, 56), h(0, 57));
            linux_labels(&mut labels, arch, &name);
            labels.push(l("beta.kubernetes.io/instance-type", mach.kind));
            let capacity_type = if h(index, 58) % 4 == 0 {
                "SPOT"
            } else {
                "ON_DEMAND"
            };
            labels.push(l("eks.amazonaws.com/capacityType", capacity_type));
            labels.push(l("eks.amazonaws.com/nodegroup", nodegroup.clone()));
            labels.push(l("eks.amazonaws.com/nodegroup-image", ami.clone()));
            labels.push(l("eks.amazonaws.com/sourceLaunchTemplateId", lt.clone()));
            labels.push(l("eks.amazonaws.com/sourceLaunchTemplateVersion", "7"));
            labels.push(l("k8s.io/cloud-provider-aws", cp_hash.clone()));
            labels.push(l("node.kubernetes.io/instance-type", mach.kind));
            labels.push(l("topology.k8s.aws/zone-id", zone_id));
            labels.push(l("topology.kubernetes.io/region", "us-east-1"));
            labels.push(l("topology.kubernetes.io/zone", format!("us-east-1{zone}")));
            company_labels(&mut labels);
            annotations.push(l("alpha.kubernetes.io/provided-node-ip", ip.clone()));
            annotations.push(l(
                "csi.volume.kubernetes.io/nodeid",
                format!("{{\"ebs.csi.aws.com\":\"{instance}\"}}"),
            ));
            common_annotations(&mut annotations);
            if mach.gpus > 0 {
                taints.push(("nvidia.com/gpu", "present", "NoSchedule"));
            }
            if gen_n % 2 == 1 {
                let ext = format!("203.0.113.{}", 1 + gen_n % 250);
                addresses.push(("ExternalIP", ext.clone()));
                addresses.push((
                    "ExternalDNS",
                    format!("ec2-{}.compute-1.amazonaws.com", ext.replace('.', "-")),
                ));
            }
            addresses.push(("InternalDNS", name.clone()));
            addresses.push(("Hostname", name.clone()));
            if gen_n % 2 == 0 {
                volumes.push(format!(
                    "kubernetes.io/csi/ebs.csi.aws.com^vol-0{:016x}",
                    h(index, 59)
                ));
            }
            secrets.extend([instance.clone(), nodegroup, ami, lt, cp_hash]);
            let (capacity, allocatable) = resources(
                index,
                mach,
                true,
                Some("nvidia.com/gpu"),
                gen_n % 5 == 2,
                83_873_772,
            );
            Gen {
                provider_id: Some(format!("aws:///us-east-1{zone}/{instance}")),
                pod_cidr: None,
                kernel: if arm {
                    "6.1.141-155.222.amzn2023.aarch64"
                } else {
                    "6.1.141-155.222.amzn2023.x86_64"
                },
                os_image: "Amazon Linux 2023.7.20250623",
                runtime: "containerd://1.7.27",
                kubelet: "v1.33.0-eks-802817d",
                os: "linux",
                arch,
                cloud_manager: Some("aws-cloud-controller-manager"),
                name,
                capacity,
                allocatable,
                ..base(index, shape)
            }
        }
        Shape::Gke => {
            let mach = pick(GKE_MACHINES, h(index, 50));
            let pool = match (mach.gpus, gen_n % 3) {
                (1.., _) => "acme-gpu-pool",
                (_, 0) => "default-pool",
                _ => "acme-batch-pool",
            };
            let zone = format!("us-central1-{}", *pick(&["a", "b", "c", "f"], h(index, 51)));
            let name = format!(
                "gke-acme-prod-{pool}-{:08x}-{}",
                fnv(pool) as u32,
                base36(index as u64, 4)
            );
            let project = "acme-prod-483920";
            let instance_id = format!(
                "{}",
                1_000_000_000_000_000_000 + h(index, 52) % 8_000_000_000_000_000_000
            );
            linux_labels(&mut labels, "amd64", &name);
            labels.push(l("beta.kubernetes.io/instance-type", mach.kind));
            for (k, v) in [
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
                ("node.kubernetes.io/instance-type", mach.kind),
                ("topology.kubernetes.io/region", "us-central1"),
            ] {
                labels.push(l(k, v));
            }
            labels.push(l("failure-domain.beta.kubernetes.io/zone", zone.clone()));
            labels.push(l("topology.gke.io/zone", zone.clone()));
            labels.push(l("topology.kubernetes.io/zone", zone.clone()));
            company_labels(&mut labels);
            let applied: Vec<String> = labels
                .iter()
                .filter(|(k, _)| k.starts_with("cloud.google.com/gke-"))
                .take(4)
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            annotations.push(l(
                "container.googleapis.com/instance_id",
                instance_id.clone(),
            ));
            annotations.push(l(
                "csi.volume.kubernetes.io/nodeid",
                format!(
                    "{{\"pd.csi.storage.gke.io\":\"projects/{project}/zones/{zone}/instances/{name}\"}}"
                ),
            ));
            annotations.push(l("node.gke.io/last-applied-node-labels", applied.join(",")));
            annotations.push(l("node.gke.io/last-applied-node-taints", ""));
            common_annotations(&mut annotations);
            if mach.gpus > 0 {
                taints.push(("nvidia.com/gpu", "present", "NoSchedule"));
            }
            if gen_n % 4 == 1 {
                addresses.push(("ExternalIP", format!("198.51.100.{}", 1 + gen_n % 250)));
            }
            addresses.push(("Hostname", name.clone()));
            secrets.extend([instance_id, format!("{project}/{zone}")]);
            let (capacity, allocatable) =
                resources(index, mach, true, Some("nvidia.com/gpu"), false, 98_831_908);
            Gen {
                provider_id: Some(format!("gce://{project}/{zone}/{name}")),
                pod_cidr: Some(pod_cidr.clone()),
                kernel: "6.6.87+",
                os_image: "Container-Optimized OS from Google",
                runtime: "containerd://1.7.27",
                kubelet: "v1.33.2-gke.1240000",
                os: "linux",
                arch: "amd64",
                cloud_manager: Some("gcp-controller-manager"),
                name,
                capacity,
                allocatable,
                extra_conditions: true,
                ..base(index, shape)
            }
        }
        Shape::Aks | Shape::Windows => {
            let windows = shape == Shape::Windows;
            let mach = if windows {
                pick(WINDOWS_MACHINES, h(index, 50))
            } else {
                pick(AKS_MACHINES, h(index, 50))
            };
            let subscription = uuid(h(0, 60), h(0, 61));
            let group = "mc_acme-prod-rg_acme-aks_westeurope";
            let (pool, vmss, name) = if windows {
                let vmss = "aksacmew".to_string();
                let name = format!("{vmss}{}", base36(index as u64, 6));
                ("acmew", vmss, name)
            } else {
                let pool = *pick(&["acmesys", "acmeapps", "acmegpu"], h(index, 62));
                let vmss = format!("aks-{pool}-{}-vmss", 31_415_926 + fnv(pool) % 1000);
                let name = format!("{vmss}{}", base36(index as u64, 6));
                (pool, vmss, name)
            };
            let instance = (index / SHAPES.len()).to_string();
            let kubelet_identity = uuid(h(0, 63), h(0, 64));
            let zone = format!("westeurope-{}", 1 + h(index, 51) % 3);
            if windows {
                labels.push(l("beta.kubernetes.io/arch", "amd64"));
                labels.push(l("beta.kubernetes.io/os", "windows"));
                labels.push(l("kubernetes.io/arch", "amd64"));
                labels.push(l("kubernetes.io/hostname", name.clone()));
                labels.push(l("kubernetes.io/os", "windows"));
                labels.push(l("node.kubernetes.io/windows-build", "10.0.20348"));
            } else {
                linux_labels(&mut labels, "amd64", &name);
            }
            labels.push(l("agentpool", pool));
            labels.push(l("beta.kubernetes.io/instance-type", mach.kind));
            labels.push(l("failure-domain.beta.kubernetes.io/region", "westeurope"));
            labels.push(l("failure-domain.beta.kubernetes.io/zone", zone.clone()));
            labels.push(l("kubernetes.azure.com/agentpool", pool));
            labels.push(l("kubernetes.azure.com/cluster", group.to_uppercase()));
            labels.push(l(
                "kubernetes.azure.com/consolidated-additional-properties",
                hex64(h(0, 65)),
            ));
            labels.push(l(
                "kubernetes.azure.com/kubelet-identity-client-id",
                kubelet_identity.clone(),
            ));
            labels.push(l(
                "kubernetes.azure.com/mode",
                if pool == "acmesys" { "system" } else { "user" },
            ));
            labels.push(l(
                "kubernetes.azure.com/node-image-version",
                if windows {
                    "AKSWindows-2022-containerd-20348.3807.250610"
                } else {
                    "AKSUbuntu-2204gen2containerd-202506.02.0"
                },
            ));
            labels.push(l(
                "kubernetes.azure.com/nodepool-type",
                "VirtualMachineScaleSets",
            ));
            labels.push(l(
                "kubernetes.azure.com/os-sku",
                if windows { "Windows2022" } else { "Ubuntu" },
            ));
            labels.push(l("kubernetes.azure.com/role", "agent"));
            labels.push(l("kubernetes.azure.com/storageprofile", "managed"));
            labels.push(l("kubernetes.azure.com/storagetier", "Premium_LRS"));
            labels.push(l("node.kubernetes.io/instance-type", mach.kind));
            labels.push(l("topology.disk.csi.azure.com/zone", zone.clone()));
            labels.push(l("topology.kubernetes.io/region", "westeurope"));
            labels.push(l("topology.kubernetes.io/zone", zone.clone()));
            company_labels(&mut labels);
            annotations.push(l(
                "csi.volume.kubernetes.io/nodeid",
                format!("{{\"disk.csi.azure.com\":\"{name}\",\"file.csi.azure.com\":\"{name}\"}}"),
            ));
            common_annotations(&mut annotations);
            if windows {
                taints.push(("os", "windows", "NoSchedule"));
            } else if mach.gpus > 0 {
                taints.push(("sku", "gpu", "NoSchedule"));
            }
            addresses.push(("Hostname", name.clone()));
            secrets.extend([
                subscription.clone(),
                group.to_string(),
                group.to_uppercase(),
                kubelet_identity,
                vmss.clone(),
            ]);
            let (capacity, allocatable) = resources(
                index,
                mach,
                !windows,
                Some("nvidia.com/gpu"),
                false,
                if windows { 133_703_676 } else { 129_886_128 },
            );
            Gen {
                provider_id: Some(format!(
                    "azure:///subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachineScaleSets/{vmss}/virtualMachines/{instance}"
                )),
                pod_cidr: Some(pod_cidr.clone()),
                kernel: if windows {
                    "10.0.20348.3807"
                } else {
                    "5.15.0-1089-azure"
                },
                os_image: if windows {
                    "Windows Server 2022 Datacenter"
                } else {
                    "Ubuntu 22.04.5 LTS"
                },
                runtime: if windows {
                    "containerd://1.7.20+azure"
                } else {
                    "containerd://1.7.27-1"
                },
                kubelet: "v1.33.2",
                os: if windows { "windows" } else { "linux" },
                arch: "amd64",
                cloud_manager: Some("cloud-node-manager"),
                name,
                capacity,
                allocatable,
                ..base(index, shape)
            }
        }
        Shape::Kind => {
            let control_plane = index == 3;
            let name = if control_plane {
                "acme-devkind-control-plane".to_string()
            } else {
                format!("acme-devkind-worker{}", gen_n + 1)
            };
            linux_labels(&mut labels, "amd64", &name);
            if control_plane {
                labels.push(l("node-role.kubernetes.io/control-plane", ""));
                labels.push(l(
                    "node.kubernetes.io/exclude-from-external-load-balancers",
                    "",
                ));
                taints.push(("node-role.kubernetes.io/control-plane", "", "NoSchedule"));
            }
            company_labels(&mut labels);
            annotations.push(l(
                "kubeadm.alpha.kubernetes.io/cri-socket",
                "unix:///run/containerd/containerd.sock",
            ));
            common_annotations(&mut annotations);
            addresses.push(("Hostname", name.clone()));
            let mach = m("kind", 8, 31, 110, 0);
            let (capacity, allocatable) = resources(index, &mach, true, None, false, 490_617_784);
            Gen {
                provider_id: Some(format!("kind://docker/acme-devkind/{name}")),
                pod_cidr: Some(pod_cidr.clone()),
                kernel: "6.8.0-60-generic",
                os_image: "Debian GNU/Linux 12 (bookworm)",
                runtime: "containerd://2.1.1",
                kubelet: "v1.33.1",
                os: "linux",
                arch: "amd64",
                cloud_manager: None,
                name,
                capacity,
                allocatable,
                ..base(index, shape)
            }
        }
        Shape::K3s => {
            let name = format!("acme-edge-rpi-{:06}", gen_n);
            let site = format!("store-{:04}-acme", h(index, 70) % 9000);
            let mac = {
                let v = h(index, 71).to_be_bytes();
                format!(
                    "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                    v[0] | 2,
                    v[1],
                    v[2],
                    v[3],
                    v[4],
                    v[5]
                )
            };
            let config_hash =
                base36(h(index, 72), 13).to_uppercase() + &base36(h(index, 73), 13).to_uppercase();
            linux_labels(&mut labels, "arm64", &name);
            labels.push(l("beta.kubernetes.io/instance-type", "k3s"));
            labels.push(l("node.kubernetes.io/instance-type", "k3s"));
            labels.push(l("acme-corp.example/site", site.clone()));
            company_labels(&mut labels);
            annotations.push(l("alpha.kubernetes.io/provided-node-ip", ip.clone()));
            annotations.push(l(
                "flannel.alpha.coreos.com/backend-data",
                format!("{{\"VNI\":1,\"VtepMAC\":\"{mac}\"}}"),
            ));
            annotations.push(l("flannel.alpha.coreos.com/backend-type", "vxlan"));
            annotations.push(l("flannel.alpha.coreos.com/kube-subnet-manager", "true"));
            annotations.push(l("flannel.alpha.coreos.com/public-ip", ip.clone()));
            annotations.push(l("k3s.io/hostname", name.clone()));
            annotations.push(l("k3s.io/internal-ip", ip.clone()));
            annotations.push(l(
                "k3s.io/node-args",
                format!("[\"agent\",\"--node-label\",\"acme-corp.example/site={site}\"]"),
            ));
            annotations.push(l("k3s.io/node-config-hash", config_hash.clone()));
            annotations.push(l(
                "k3s.io/node-env",
                "{\"K3S_TOKEN\":\"********\",\"K3S_URL\":\"https://edge-master.acme-corp.example:6443\"}",
            ));
            common_annotations(&mut annotations);
            addresses.push(("Hostname", name.clone()));
            secrets.extend([
                site,
                mac,
                config_hash,
                "edge-master.acme-corp.example".to_string(),
            ]);
            let mach = m("rpi5", 4, 8, 110, 0);
            let (capacity, allocatable) = resources(index, &mach, false, None, false, 61_202_244);
            Gen {
                provider_id: Some(format!("k3s://{name}")),
                pod_cidr: Some(pod_cidr.clone()),
                kernel: "6.8.0-1029-raspi",
                os_image: "Ubuntu 24.04.2 LTS",
                runtime: "containerd://2.0.5-k3s1",
                kubelet: "v1.33.2+k3s1",
                os: "linux",
                arch: "arm64",
                cloud_manager: None,
                name,
                capacity,
                allocatable,
                ..base(index, shape)
            }
        }
        Shape::OpenShift => {
            let on_aws = gen_n % 2 == 0;
            let infra = "acme-ocp-7xk2p";
            let (name, provider_id, mach, zone) = if on_aws {
                let zone = format!("us-east-2{}", *pick(&["a", "b", "c"], h(index, 51)));
                let instance = format!("i-0{:016x}", h(index, 52));
                let name = format!("ip-10-213-{c}-{d}.us-east-2.compute.internal");
                secrets.push(instance.clone());
                let mach = pick(OPENSHIFT_AWS, h(index, 50));
                (name, format!("aws:///{zone}/{instance}"), mach, zone)
            } else {
                let server = uuid(h(index, 52), h(index, 53));
                secrets.push(server.clone());
                let name = format!("{infra}-worker-0-{}", base36(index as u64, 5));
                (
                    name,
                    format!("openstack:///{server}"),
                    &OPENSHIFT_OSP[0],
                    "nova".to_string(),
                )
            };
            let machine = format!(
                "openshift-machine-api/{infra}-worker-{zone}-{}",
                base36(h(index, 54) % 60_466_176, 5)
            );
            let rendered = format!("rendered-worker-{}", hex128(h(0, 80), h(0, 81)));
            let chassis = uuid(h(index, 82), h(index, 83));
            linux_labels(&mut labels, "amd64", &name);
            labels.push(l("beta.kubernetes.io/instance-type", mach.kind));
            labels.push(l("node-role.kubernetes.io/worker", ""));
            labels.push(l("node.kubernetes.io/instance-type", mach.kind));
            labels.push(l("node.openshift.io/os_id", "rhcos"));
            labels.push(l("topology.kubernetes.io/zone", zone.clone()));
            company_labels(&mut labels);
            annotations.push(l("k8s.ovn.org/host-cidrs", format!("[\"{ip}/16\"]")));
            annotations.push(l(
                "k8s.ovn.org/l3-gateway-config",
                format!(
                    "{{\"default\":{{\"mode\":\"shared\",\"bridge-id\":\"br-ex\",\"interface-id\":\"br-ex_{name}\",\"mac-address\":\"02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\",\"ip-addresses\":[\"{ip}/16\"],\"next-hops\":[\"10.213.0.1\"],\"node-port-enable\":\"true\",\"vlan-id\":\"0\"}}}}",
                    c, d, (h(index, 85) & 0xff) as u8, (h(index, 86) & 0xff) as u8, (h(index, 87) & 0xff) as u8
                ),
            ));
            annotations.push(l("k8s.ovn.org/node-chassis-id", chassis.clone()));
            annotations.push(l(
                "k8s.ovn.org/node-primary-ifaddr",
                format!("{{\"ipv4\":\"{ip}/16\"}}"),
            ));
            annotations.push(l(
                "k8s.ovn.org/node-subnets",
                format!("{{\"default\":[\"{pod_cidr}\"]}}"),
            ));
            annotations.push(l("machine.openshift.io/machine", machine.clone()));
            annotations.push(l(
                "machineconfiguration.openshift.io/controlPlaneTopology",
                "HighlyAvailable",
            ));
            annotations.push(l(
                "machineconfiguration.openshift.io/currentConfig",
                rendered.clone(),
            ));
            annotations.push(l(
                "machineconfiguration.openshift.io/desiredConfig",
                rendered.clone(),
            ));
            annotations.push(l(
                "machineconfiguration.openshift.io/desiredDrain",
                format!("uncordon-{rendered}"),
            ));
            annotations.push(l(
                "machineconfiguration.openshift.io/lastAppliedDrain",
                format!("uncordon-{rendered}"),
            ));
            annotations.push(l("machineconfiguration.openshift.io/reason", ""));
            annotations.push(l("machineconfiguration.openshift.io/state", "Done"));
            common_annotations(&mut annotations);
            addresses.push(("Hostname", name.clone()));
            secrets.extend([machine, rendered, chassis, infra.to_string()]);
            let (capacity, allocatable) = resources(index, mach, true, None, false, 125_277_164);
            Gen {
                provider_id: Some(provider_id),
                pod_cidr: None,
                kernel: "5.14.0-570.25.1.el9_6.x86_64",
                os_image: "Red Hat Enterprise Linux CoreOS 9.6.20250701-0 (Plow)",
                runtime: "cri-o://1.33.2-2.rhaos4.20.git1f3c2a1.el9",
                kubelet: "v1.33.2",
                os: "linux",
                arch: "amd64",
                cloud_manager: Some(if on_aws {
                    "aws-cloud-controller-manager"
                } else {
                    "openstack-cloud-controller-manager"
                }),
                name,
                capacity,
                allocatable,
                ..base(index, shape)
            }
        }
        Shape::BareMetal => {
            let rack = h(index, 90) % 40;
            let name = format!("acme-dc2-r{rack:02}-n{gen_n:05}.infra.acme-corp.example");
            let mach = pick(METAL_MACHINES, h(index, 50));
            let asset = format!("ASSET-ACME-{:08X}", h(index, 91) as u32);
            let bmc = ipv4(u32::from_be_bytes([10, 250, 0, 4]).wrapping_add(index as u32));
            let tunnel =
                ipv4(u32::from_be_bytes([100, 66, 0, 1]).wrapping_add((index as u32) << 6));
            linux_labels(&mut labels, "amd64", &name);
            labels.push(l("node-role.kubernetes.io/worker", ""));
            labels.push(l("acme-corp.example/rack", format!("r{rack:02}-acme-dc2")));
            labels.push(l(
                "topology.kubernetes.io/zone",
                format!("dc2-hall-{}", rack / 10),
            ));
            for feature in NFD_FEATURES {
                let value = if feature == "system-os_release.ID" {
                    "rocky"
                } else {
                    "true"
                };
                labels.push(l(&format!("feature.node.kubernetes.io/{feature}"), value));
            }
            company_labels(&mut labels);
            annotations.push(l(
                "kubeadm.alpha.kubernetes.io/cri-socket",
                "unix:///var/run/containerd/containerd.sock",
            ));
            annotations.push(l(
                "nfd.node.kubernetes.io/feature-labels",
                NFD_FEATURES.join(","),
            ));
            annotations.push(l("nfd.node.kubernetes.io/master.version", "v0.17.3"));
            annotations.push(l("projectcalico.org/IPv4Address", format!("{ip}/16")));
            annotations.push(l("projectcalico.org/IPv4VXLANTunnelAddr", tunnel.clone()));
            annotations.push(l("acme-corp.example/asset-tag", asset.clone()));
            annotations.push(l("acme-corp.example/bmc-address", bmc.clone()));
            common_annotations(&mut annotations);
            if gen_n % 3 == 0 {
                addresses.push(("ExternalIP", format!("192.0.2.{}", 1 + gen_n % 250)));
            }
            addresses.push(("Hostname", name.clone()));
            secrets.extend([asset, bmc, tunnel, format!("r{rack:02}-acme-dc2")]);
            let (capacity, allocatable) = resources(
                index,
                mach,
                true,
                Some("nvidia.com/gpu"),
                gen_n % 2 == 1,
                1_874_726_040,
            );
            Gen {
                provider_id: None,
                pod_cidr: Some(pod_cidr.clone()),
                kernel: "5.14.0-503.14.1.el9_5.x86_64",
                os_image: "Rocky Linux 9.5 (Blue Onyx)",
                runtime: "containerd://2.0.5",
                kubelet: "v1.33.2",
                os: "linux",
                arch: "amd64",
                cloud_manager: None,
                name,
                capacity,
                allocatable,
                ..base(index, shape)
            }
        }
    };
    Gen {
        labels,
        annotations,
        taints,
        addresses,
        volumes,
        secrets,
        machine_id,
        system_uuid: if g.shape == Shape::Windows {
            system_uuid_raw.to_uppercase()
        } else {
            system_uuid_raw
        },
        boot_id,
        created,
        ..g
    }
}

/// Fields common to all shapes, filled in by [`generate`].
fn base(index: usize, shape: Shape) -> Gen {
    Gen {
        shape,
        name: String::new(),
        uid: node_uid(index),
        resource_version: 4_000_000 + h(index, 3) % 6_000_000,
        created: 0,
        labels: Vec::new(),
        annotations: Vec::new(),
        pod_cidr: None,
        provider_id: None,
        taints: Vec::new(),
        capacity: Vec::new(),
        allocatable: Vec::new(),
        extra_conditions: false,
        ready: index % 97 != 96,
        addresses: Vec::new(),
        machine_id: String::new(),
        system_uuid: String::new(),
        boot_id: String::new(),
        kernel: "",
        os_image: "",
        runtime: "",
        kubelet: "",
        os: "linux",
        arch: "amd64",
        images: images(index, shape),
        volumes: Vec::new(),
        cloud_manager: None,
        secrets: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// JSON output.
// ---------------------------------------------------------------------------------------------

/// Appends `text` as a JSON string.
fn js(out: &mut String, text: &str) {
    out.push('"');
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push_str(text);
    } else {
        for ch in text.chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

/// Appends `"key":"value"`.
fn kv(out: &mut String, key: &str, value: &str) {
    js(out, key);
    out.push(':');
    js(out, value);
}

/// Appends each of `items` with `write`, comma-separated.
fn comma_separated<T>(
    out: &mut String,
    items: impl IntoIterator<Item = T>,
    mut write: impl FnMut(&mut String, T),
) {
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(out, item);
    }
}

fn map(out: &mut String, entries: &[(String, String)]) {
    out.push('{');
    comma_separated(out, entries, |out, (k, v)| kv(out, k, v));
    out.push('}');
}

/// `{".":{},"f:a":{},"f:b":{}}` for managedFields.
fn field_set(out: &mut String, keys: impl Iterator<Item = impl AsRef<str>>) {
    out.push_str("{\".\":{}");
    for k in keys {
        out.push_str(",\"f:");
        let mut quoted = String::new();
        js(&mut quoted, k.as_ref());
        out.push_str(&quoted[1..quoted.len() - 1]);
        out.push_str("\":{}");
    }
    out.push('}');
}

fn digest(repo: &str, tag: &str) -> String {
    let seed = fnv(repo) ^ fnv(tag).rotate_left(17);
    let mut out = String::with_capacity(64);
    for k in 0..4 {
        let _ = write!(out, "{:016x}", splitmix(seed ^ k));
    }
    out
}

fn render(g: &Gen, out: &mut String, with_type: bool) {
    let created = super::util::rfc3339(g.created);
    let heartbeat = super::util::rfc3339(1_751_371_200 + g.created % 3_600);
    out.push('{');
    if with_type {
        out.push_str("\"kind\":\"Node\",\"apiVersion\":\"v1\",");
    }
    out.push_str("\"metadata\":{");
    kv(out, "name", &g.name);
    out.push(',');
    kv(out, "uid", &g.uid);
    let _ = write!(
        out,
        ",\"resourceVersion\":\"{}\",\"creationTimestamp\":\"{created}\",\"labels\":",
        g.resource_version
    );
    map(out, &g.labels);
    out.push_str(",\"annotations\":");
    map(out, &g.annotations);

    // managedFields: who wrote which fields, as the real server records it.
    out.push_str(",\"managedFields\":[");
    let _ = write!(
        out,
        "{{\"manager\":\"kubelet\",\"operation\":\"Update\",\"apiVersion\":\"v1\",\"time\":\"{created}\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{{\"f:metadata\":{{\"f:annotations\":"
    );
    field_set(
        out,
        g.annotations
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !k.starts_with("node.alpha")),
    );
    out.push_str(",\"f:labels\":");
    // The kubelet's own labels; the provider's tooling sets the others.
    field_set(
        out,
        g.labels
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| k.contains("kubernetes.io/")),
    );
    out.push('}');
    if g.provider_id.is_some() {
        out.push_str(",\"f:spec\":{\"f:providerID\":{}}");
    }
    out.push_str("}}");
    let _ = write!(
        out,
        ",{{\"manager\":\"kube-controller-manager\",\"operation\":\"Update\",\"apiVersion\":\"v1\",\"time\":\"{created}\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{{\"f:metadata\":{{\"f:annotations\":{{\"f:node.alpha.kubernetes.io/ttl\":{{}}}}}}"
    );
    if let Some(cidr) = &g.pod_cidr {
        let _ = write!(
            out,
            ",\"f:spec\":{{\"f:podCIDR\":{{}},\"f:podCIDRs\":{{\".\":{{}},\"v:\\\"{cidr}\\\"\":{{}}}}}}"
        );
    }
    out.push_str("}}");
    if let Some(manager) = g.cloud_manager {
        let _ = write!(
            out,
            ",{{\"manager\":\"{manager}\",\"operation\":\"Update\",\"apiVersion\":\"v1\",\"time\":\"{created}\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{{\"f:status\":{{\"f:addresses\":{{"
        );
        comma_separated(out, &g.addresses, |out, (kind, _)| {
            let _ = write!(
                out,
                "\"k:{{\\\"type\\\":\\\"{kind}\\\"}}\":{{\".\":{{}},\"f:address\":{{}},\"f:type\":{{}}}}"
            );
        });
        out.push_str("}}},\"subresource\":\"status\"}");
    }
    let _ = write!(
        out,
        ",{{\"manager\":\"kubelet\",\"operation\":\"Update\",\"apiVersion\":\"v1\",\"time\":\"{heartbeat}\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{{\"f:status\":{{\"f:allocatable\":"
    );
    field_set(out, g.allocatable.iter().map(|(k, _)| k.as_str()));
    out.push_str(",\"f:capacity\":");
    field_set(out, g.capacity.iter().map(|(k, _)| k.as_str()));
    out.push_str(",\"f:conditions\":{");
    let kubelet_conditions = conditions(g)
        .into_iter()
        .filter(|(kind, ..)| KUBELET_CONDITIONS.contains(kind));
    comma_separated(out, kubelet_conditions, |out, (kind, ..)| {
        let _ = write!(
            out,
            "\"k:{{\\\"type\\\":\\\"{kind}\\\"}}\":{{\"f:lastHeartbeatTime\":{{}},\"f:lastTransitionTime\":{{}},\"f:message\":{{}},\"f:reason\":{{}},\"f:status\":{{}}}}"
        );
    });
    out.push_str("},\"f:images\":{},\"f:nodeInfo\":{\"f:bootID\":{},\"f:containerRuntimeVersion\":{},\"f:kernelVersion\":{},\"f:kubeProxyVersion\":{},\"f:kubeletVersion\":{},\"f:machineID\":{},\"f:osImage\":{},\"f:systemUUID\":{}}");
    if !g.volumes.is_empty() {
        out.push_str(",\"f:volumesAttached\":{},\"f:volumesInUse\":{}");
    }
    out.push_str("}},\"subresource\":\"status\"}]},");

    // spec
    out.push_str("\"spec\":{");
    let mut first = true;
    let mut sep = |out: &mut String| {
        if !std::mem::take(&mut first) {
            out.push(',');
        }
    };
    if let Some(cidr) = &g.pod_cidr {
        sep(out);
        let _ = write!(out, "\"podCIDR\":\"{cidr}\",\"podCIDRs\":[\"{cidr}\"]");
    }
    if let Some(id) = &g.provider_id {
        sep(out);
        kv(out, "providerID", id);
    }
    if !g.taints.is_empty() {
        sep(out);
        out.push_str("\"taints\":[");
        comma_separated(out, &g.taints, |out, (key, value, effect)| {
            let _ = write!(out, "{{\"key\":\"{key}\",");
            if !value.is_empty() {
                let _ = write!(out, "\"value\":\"{value}\",");
            }
            let _ = write!(out, "\"effect\":\"{effect}\"}}");
        });
        out.push(']');
    }
    out.push_str("},");

    // status
    out.push_str("\"status\":{\"capacity\":");
    map(out, &g.capacity);
    out.push_str(",\"allocatable\":");
    map(out, &g.allocatable);
    out.push_str(",\"conditions\":[");
    comma_separated(
        out,
        conditions(g),
        |out, (kind, status, reason, message)| {
            let _ = write!(
                out,
                "{{\"type\":\"{kind}\",\"status\":\"{status}\",\"lastHeartbeatTime\":\"{heartbeat}\",\"lastTransitionTime\":\"{created}\",\"reason\":\"{reason}\",\"message\":"
            );
            js(out, message);
            out.push('}');
        },
    );
    out.push_str("],\"addresses\":[");
    comma_separated(out, &g.addresses, |out, (kind, address)| {
        let _ = write!(out, "{{\"type\":\"{kind}\",\"address\":");
        js(out, address);
        out.push('}');
    });
    out.push_str("],\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":10250}},\"nodeInfo\":{");
    let fields: [(&str, &str); 10] = [
        ("machineID", &g.machine_id),
        ("systemUUID", &g.system_uuid),
        ("bootID", &g.boot_id),
        ("kernelVersion", g.kernel),
        ("osImage", g.os_image),
        ("containerRuntimeVersion", g.runtime),
        ("kubeletVersion", g.kubelet),
        ("kubeProxyVersion", g.kubelet),
        ("operatingSystem", g.os),
        ("architecture", g.arch),
    ];
    comma_separated(out, fields, |out, (k, v)| kv(out, k, v));
    out.push_str("},\"images\":[");
    comma_separated(out, &g.images, |out, image| {
        out.push_str("{\"names\":[\"");
        out.push_str(&image.repo);
        out.push_str("@sha256:");
        out.push_str(&digest(&image.repo, &image.tag));
        out.push_str("\",\"");
        out.push_str(&image.repo);
        out.push(':');
        out.push_str(&image.tag);
        let _ = write!(out, "\"],\"sizeBytes\":{}}}", image.size);
    });
    out.push(']');
    if !g.volumes.is_empty() {
        out.push_str(",\"volumesInUse\":[");
        comma_separated(out, &g.volumes, |out, v| js(out, v));
        out.push_str("],\"volumesAttached\":[");
        comma_separated(out, &g.volumes, |out, v| {
            out.push_str("{\"name\":");
            js(out, v);
            out.push_str(",\"devicePath\":\"\"}");
        });
        out.push(']');
    }
    out.push_str("}}");
}

const KUBELET_CONDITIONS: [&str; 4] = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"];

type Condition = (&'static str, &'static str, &'static str, &'static str);

fn conditions(g: &Gen) -> Vec<Condition> {
    let mut out: Vec<Condition> = Vec::with_capacity(12);
    if g.extra_conditions {
        // node-problem-detector, as GKE runs it.
        for (kind, reason, message) in [
            (
                "FrequentContainerdRestart",
                "NoFrequentContainerdRestart",
                "containerd is functioning properly",
            ),
            (
                "KernelDeadlock",
                "KernelHasNoDeadlock",
                "kernel has no deadlock",
            ),
        ] {
            out.push((kind, "False", reason, message));
        }
    }
    if g.ready {
        out.extend([
            (
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            (
                "DiskPressure",
                "False",
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure",
            ),
            (
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
            (
                "Ready",
                "True",
                "KubeletReady",
                "kubelet is posting ready status",
            ),
        ]);
    } else {
        for kind in ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"] {
            out.push((
                kind,
                "Unknown",
                "NodeStatusUnknown",
                "Kubelet stopped posting node status.",
            ));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Public API.
// ---------------------------------------------------------------------------------------------

/// `metadata.name` of node `index` (unique per index).
pub fn node_name(index: usize) -> String {
    // Names need only a fraction of the generator, but sharing it keeps them in step.
    generate(index).name
}

/// Appends node `index` as it appears in a NodeList's `items` (no `kind`/`apiVersion`).
pub fn write_list_item(out: &mut String, index: usize) {
    render(&generate(index), out, false);
}

/// Node `index` as `GET /api/v1/nodes/{name}` returns it.
pub fn node_json(index: usize) -> String {
    let mut out = String::with_capacity(16 * 1024);
    render(&generate(index), &mut out, true);
    out
}

/// Every string of node `index` that must never appear in an anonymized report: its name, IP
/// addresses, host names, provider ID and instance ID, label and annotation values that name
/// things, the company's label keys, every image name, machineID, systemUUID, bootID, UID, the
/// company-specific resource name and the pod CIDR. None of them is a substring of a value a
/// report may carry (see [`report_values`]).
pub fn identifying_strings(index: usize) -> Vec<String> {
    let g = generate(index);
    let mut out = vec![
        g.name.clone(),
        g.uid.clone(),
        g.machine_id.clone(),
        g.system_uuid.clone(),
        g.boot_id.clone(),
    ];
    for (_, address) in &g.addresses {
        out.push(address.clone());
    }
    out.extend(g.provider_id.clone());
    out.extend(g.pod_cidr.clone());
    out.extend(g.volumes.iter().cloned());
    for (key, value) in g.labels.iter().chain(&g.annotations) {
        if key.contains("acme") {
            out.push(key.clone());
        }
        if value.contains(&g.name) && !value.contains('"') {
            out.push(value.clone());
        }
    }
    if g.capacity.iter().any(|(k, _)| k == COMPANY_RESOURCE) {
        out.push(COMPANY_RESOURCE.to_string());
    }
    for image in &g.images {
        out.push(format!(
            "{}@sha256:{}",
            image.repo,
            digest(&image.repo, &image.tag)
        ));
        out.push(format!("{}:{}", image.repo, image.tag));
    }
    out.extend(g.secrets.iter().cloned());
    out.sort();
    out.dedup();
    out
}

/// The values of node `index` that an anonymized report legitimately carries: the node info
/// fields, capacity names and quantities, and the provider scheme.
pub fn report_values(index: usize) -> Vec<String> {
    let g = generate(index);
    let mut out: Vec<String> = [g.os, g.os_image, g.kernel, g.arch, g.runtime, g.kubelet]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (k, v) in &g.capacity {
        out.push(k.clone());
        out.push(v.clone());
    }
    if let Some(scheme) = g.provider_id.as_ref().and_then(|p| p.split_once("://")) {
        out.push(scheme.0.to_string());
    }
    out
}
