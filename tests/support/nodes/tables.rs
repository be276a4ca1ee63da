//! The per-shape tables: machine types, operating systems, images and registries.

use super::Shape;

/// A machine type and what the kubelet reports for it.
pub struct Machine {
    pub kind: &'static str,
    pub cpu: u32,
    pub gib: u32,
    pub pods: u32,
    pub gpus: u32,
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

/// What every node of a shape has in common (variants, such as EKS on arm64, adjust it).
pub struct Table {
    pub machines: &'static [Machine],
    pub kernel: &'static str,
    pub os_image: &'static str,
    pub runtime: &'static str,
    pub kubelet: &'static str,
    pub os: &'static str,
    pub arch: &'static str,
    /// `ephemeral-storage` capacity in KiB.
    pub disk_ki: u64,
    /// Whether the kubelet reports `hugepages-*` resources.
    pub hugepages: bool,
    /// The field manager of the cloud controller that sets the addresses, if any.
    pub cloud_manager: Option<&'static str>,
    /// Where the company's own images come from.
    pub registry: &'static str,
    /// The provider's system images, on every node of the shape.
    pub system_images: [&'static str; 8],
}

/// The table of `shape`.
pub fn table(shape: Shape) -> &'static Table {
    &TABLES[shape as usize]
}

pub const EKS_ARM64: &[Machine] = &[
    m("m7g.2xlarge", 8, 32, 58, 0),
    m("c7g.4xlarge", 16, 32, 234, 0),
];
pub const OPENSHIFT_OSP: &[Machine] = &[m("ocp.w1.xlarge", 16, 64, 250, 0)];

/// In the order of [`super::SHAPES`].
static TABLES: [Table; 8] = [
    Table {
        machines: &[
            m("m5.2xlarge", 8, 32, 58, 0),
            m("m6i.4xlarge", 16, 64, 234, 0),
            m("c6i.8xlarge", 32, 64, 234, 0),
            m("r6i.2xlarge", 8, 64, 58, 0),
            m("g5.12xlarge", 48, 192, 234, 4),
        ],
        kernel: "6.1.141-155.222.amzn2023.x86_64",
        os_image: "Amazon Linux 2023.7.20250623",
        runtime: "containerd://1.7.27",
        kubelet: "v1.33.0-eks-802817d",
        os: "linux",
        arch: "amd64",
        disk_ki: 83_873_772,
        hugepages: true,
        cloud_manager: Some("aws-cloud-controller-manager"),
        registry: "487213950614.dkr.ecr.us-east-1.amazonaws.com",
        system_images: [
            "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon-k8s-cni:v1.19.5-eksbuild.1",
            "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon-k8s-cni-init:v1.19.5-eksbuild.1",
            "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon/aws-network-policy-agent:v1.2.1-eksbuild.1",
            "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/kube-proxy:v1.33.0-minimal-eksbuild.2",
            "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/coredns:v1.12.1-eksbuild.2",
            "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/aws-ebs-csi-driver:v1.44.0",
            "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/pause:3.10",
            "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/eks-pod-identity-agent:v0.1.29",
        ],
    },
    Table {
        machines: &[
            m("e2-standard-8", 8, 32, 110, 0),
            m("n2-standard-16", 16, 64, 110, 0),
            m("n2d-highmem-8", 8, 64, 110, 0),
            m("a2-highgpu-1g", 12, 85, 110, 1),
        ],
        kernel: "6.6.87+",
        os_image: "Container-Optimized OS from Google",
        runtime: "containerd://1.7.27",
        kubelet: "v1.33.2-gke.1240000",
        os: "linux",
        arch: "amd64",
        disk_ki: 98_831_908,
        hugepages: true,
        cloud_manager: Some("gcp-controller-manager"),
        registry: "us-docker.pkg.dev/acme-prod-483920/acme-apps",
        system_images: [
            "gke.gcr.io/gke-metrics-agent:1.15.6-gke.0",
            "gke.gcr.io/kube-proxy-amd64:v1.33.2-gke.1240000",
            "gke.gcr.io/fluent-bit:v1.8.12-gke.32",
            "gke.gcr.io/gcp-compute-persistent-disk-csi-driver:v1.17.4-gke.0",
            "gke.gcr.io/netd:v0.8.2-gke.3",
            "gke.gcr.io/ip-masq-agent:v2.11.0-gke.12",
            "gke.gcr.io/pause:3.10",
            "gke.gcr.io/csi-node-driver-registrar:v2.13.0-gke.2",
        ],
    },
    Table {
        machines: &[
            m("Standard_D8s_v5", 8, 32, 110, 0),
            m("Standard_D16ds_v5", 16, 64, 110, 0),
            m("Standard_E8as_v5", 8, 64, 110, 0),
            m("Standard_NC24ads_A100_v4", 24, 220, 110, 1),
        ],
        kernel: "5.15.0-1089-azure",
        os_image: "Ubuntu 22.04.5 LTS",
        runtime: "containerd://1.7.27-1",
        kubelet: "v1.33.2",
        os: "linux",
        arch: "amd64",
        disk_ki: 129_886_128,
        hugepages: true,
        cloud_manager: Some("cloud-node-manager"),
        registry: "acmeprodregistry.azurecr.io",
        system_images: [
            "mcr.microsoft.com/oss/kubernetes/kube-proxy:v1.33.2",
            "mcr.microsoft.com/oss/kubernetes/pause:3.10",
            "mcr.microsoft.com/containernetworking/azure-cns:v1.6.27",
            "mcr.microsoft.com/containernetworking/azure-cni:v1.6.27",
            "mcr.microsoft.com/oss/kubernetes-csi/azuredisk-csi:v1.33.1",
            "mcr.microsoft.com/oss/kubernetes-csi/azurefile-csi:v1.33.1",
            "mcr.microsoft.com/oss/v2/kubernetes/coredns:v1.12.1-1",
            "mcr.microsoft.com/azuremonitor/containerinsights/ciprod:3.1.27",
        ],
    },
    Table {
        machines: &[m("kind", 8, 31, 110, 0)],
        kernel: "6.8.0-60-generic",
        os_image: "Debian GNU/Linux 12 (bookworm)",
        runtime: "containerd://2.1.1",
        kubelet: "v1.33.1",
        os: "linux",
        arch: "amd64",
        disk_ki: 490_617_784,
        hugepages: true,
        cloud_manager: None,
        registry: "registry.acme-corp.example/dev",
        system_images: [
            "docker.io/kindest/kindnetd:v20250512-df8de77b",
            "docker.io/kindest/local-path-provisioner:v20250214-acbabc1a",
            "docker.io/kindest/local-path-helper:v20241212-8ac705d0",
            "registry.k8s.io/kube-proxy:v1.33.1",
            "registry.k8s.io/kube-apiserver:v1.33.1",
            "registry.k8s.io/coredns/coredns:v1.12.0",
            "registry.k8s.io/etcd:3.5.21-0",
            "registry.k8s.io/pause:3.10",
        ],
    },
    Table {
        machines: &[m("rpi5", 4, 8, 110, 0)],
        kernel: "6.8.0-1029-raspi",
        os_image: "Ubuntu 24.04.2 LTS",
        runtime: "containerd://2.0.5-k3s1",
        kubelet: "v1.33.2+k3s1",
        os: "linux",
        arch: "arm64",
        disk_ki: 61_202_244,
        hugepages: false,
        cloud_manager: None,
        registry: "registry.acme-corp.example/edge",
        system_images: [
            "docker.io/rancher/mirrored-pause:3.6",
            "docker.io/rancher/mirrored-coredns-coredns:1.12.1",
            "docker.io/rancher/local-path-provisioner:v0.0.31",
            "docker.io/rancher/mirrored-metrics-server:v0.7.2",
            "docker.io/rancher/klipper-helm:v0.9.5-build20250306",
            "docker.io/rancher/klipper-lb:v0.4.13",
            "docker.io/rancher/mirrored-library-traefik:3.3.6",
            "docker.io/rancher/mirrored-library-busybox:1.36.1",
        ],
    },
    Table {
        machines: &[
            m("m6i.2xlarge", 8, 32, 250, 0),
            m("m6i.4xlarge", 16, 64, 250, 0),
        ],
        kernel: "5.14.0-570.25.1.el9_6.x86_64",
        os_image: "Red Hat Enterprise Linux CoreOS 9.6.20250701-0 (Plow)",
        runtime: "cri-o://1.33.2-2.rhaos4.20.git1f3c2a1.el9",
        kubelet: "v1.33.2",
        os: "linux",
        arch: "amd64",
        disk_ki: 125_277_164,
        hugepages: true,
        cloud_manager: Some("aws-cloud-controller-manager"),
        registry: "image-registry.openshift-image-registry.svc:5000/acme-prod",
        system_images: [
            "quay.io/openshift-release-dev/ocp-v4.0-art-dev:4.20.0-ovn-kubernetes",
            "quay.io/openshift-release-dev/ocp-v4.0-art-dev:4.20.0-multus-cni",
            "registry.redhat.io/ubi9/ubi-minimal:9.6",
            "quay.io/openshift-release-dev/ocp-v4.0-art-dev:4.20.0-node-exporter",
            "registry.redhat.io/rhel9/support-tools:9.6",
            "registry.redhat.io/openshift4/ose-csi-node-driver-registrar-rhel9:v4.20",
            "registry.redhat.io/openshift4/ose-aws-ebs-csi-driver-rhel9:v4.20",
            "quay.io/openshift-release-dev/ocp-v4.0-art-dev:4.20.0-pod",
        ],
    },
    Table {
        machines: &[
            m("Standard_D8s_v5", 8, 32, 30, 0),
            m("Standard_D4s_v5", 4, 16, 30, 0),
        ],
        kernel: "10.0.20348.3807",
        os_image: "Windows Server 2022 Datacenter",
        runtime: "containerd://1.7.20+azure",
        kubelet: "v1.33.2",
        os: "windows",
        arch: "amd64",
        disk_ki: 133_703_676,
        hugepages: false,
        cloud_manager: Some("cloud-node-manager"),
        registry: "acmeprodregistry.azurecr.io",
        system_images: [
            "mcr.microsoft.com/windows/servercore:ltsc2022",
            "mcr.microsoft.com/windows/nanoserver:ltsc2022",
            "mcr.microsoft.com/oss/kubernetes/pause:3.10-windows-ltsc2022-amd64",
            "mcr.microsoft.com/oss/kubernetes-csi/azuredisk-csi:v1.33.1-windows-hp",
            "mcr.microsoft.com/containernetworking/azure-cns:v1.6.27-windows",
            "mcr.microsoft.com/azuremonitor/containerinsights/ciprod:win-3.1.27",
            "mcr.microsoft.com/dotnet/framework/aspnet:4.8.1-windowsservercore-ltsc2022",
            "mcr.microsoft.com/oss/kubernetes/windows-gmsa-webhook:v0.12.1",
        ],
    },
    Table {
        machines: &[
            m("PowerEdge-R760", 64, 512, 110, 0),
            m("PowerEdge-R760xa", 64, 1024, 110, 8),
            m("ThinkSystem-SR650-V3", 96, 768, 110, 0),
        ],
        kernel: "5.14.0-503.14.1.el9_5.x86_64",
        os_image: "Rocky Linux 9.5 (Blue Onyx)",
        runtime: "containerd://2.0.5",
        kubelet: "v1.33.2",
        os: "linux",
        arch: "amd64",
        disk_ki: 1_874_726_040,
        hugepages: true,
        cloud_manager: None,
        registry: "harbor.acme-corp.example/acme",
        system_images: [
            "quay.io/calico/node:v3.30.1",
            "quay.io/calico/cni:v3.30.1",
            "quay.io/calico/kube-controllers:v3.30.1",
            "quay.io/calico/typha:v3.30.1",
            "registry.k8s.io/kube-proxy:v1.33.2",
            "registry.k8s.io/pause:3.10",
            "registry.k8s.io/nfd/node-feature-discovery:v0.17.3",
            "nvcr.io/nvidia/k8s-device-plugin:v0.17.2",
        ],
    },
];

/// Popular images of other vendors; each node has 18 of them.
pub const THIRD_PARTY: &[&str] = &[
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

/// The company's own applications; each node runs 10 of them.
pub const ACME_APPS: &[&str] = &[
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

/// The teams that own nodes (named in labels and annotations).
pub const TEAMS: &[&str] = &[
    "payments", "ledger", "search", "billing", "identity", "data", "web", "ml", "ops", "notify",
];

/// Labels node-feature-discovery puts on bare-metal nodes.
pub const NFD_FEATURES: [&str; 10] = [
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
