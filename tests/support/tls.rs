//! A throw-away certificate authority made fresh for each stand-in server, and the rustls server
//! configuration for a certificate it issues to `127.0.0.1` and `localhost`.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::rustls::{
    self, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
};

/// A self-signed CA and one server certificate it signed for `127.0.0.1` (IP SAN) and
/// `localhost` (DNS SAN).
pub struct TestCa {
    ca_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key_der: Vec<u8>,
}

impl TestCa {
    /// Makes a new CA and server certificate (ECDSA P-256). Panics if rcgen fails.
    pub fn new(common_name: &str) -> TestCa {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("{common_name} CA"));
        dn.push(DnType::OrganizationName, "spartakus tests");
        ca_params.distinguished_name = dn;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().expect("CA key");
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("self-signed CA");

        let mut server_params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("server params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        server_params.distinguished_name = dn;
        server_params.is_ca = IsCa::ExplicitNoCa;
        server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server_params.use_authority_key_identifier_extension = true;
        let server_key = KeyPair::generate().expect("server key");
        let server_cert = server_params
            .signed_by(&server_key, &ca)
            .expect("server certificate");

        TestCa {
            ca_pem: ca.pem(),
            server_chain: vec![server_cert.der().clone()],
            server_key_der: server_key.serialize_der(),
        }
    }

    /// A server certificate that is its own trust anchor, as some hand-built and appliance
    /// clusters have: self-signed for `names` (IP or DNS SANs), `CA:TRUE` if `is_ca`, and valid
    /// only in 2019 if `expired`. [`TestCa::ca_pem`] is the certificate itself, which is what a
    /// kubeconfig then holds in `certificate-authority-data`.
    pub fn self_signed(common_name: &str, names: &[&str], is_ca: bool, expired: bool) -> TestCa {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        if is_ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::DigitalSignature,
            ];
        } else {
            params.is_ca = IsCa::ExplicitNoCa;
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        }
        if expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("self-signed certificate");
        TestCa {
            ca_pem: cert.pem(),
            server_chain: vec![cert.der().clone()],
            server_key_der: key.serialize_der(),
        }
    }

    /// A server certificate signed by a fresh CA, pinned: [`TestCa::ca_pem`] is the server's
    /// own certificate, not its CA's (a kubeconfig that trusts exactly that certificate).
    pub fn pinned_leaf(common_name: &str) -> TestCa {
        let ca = TestCa::new(common_name);
        let leaf = ca.server_chain[0].to_vec();
        TestCa {
            ca_pem: pem("CERTIFICATE", &leaf),
            ..ca
        }
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Writes the CA certificate as PEM (for `--ca-file` or `certificate-authority`).
    pub fn write_ca_pem(&self, path: &Path) {
        std::fs::write(path, &self.ca_pem)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// A rustls server configuration presenting the server certificate, HTTP/1.1 only.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone()));
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(self.server_chain.clone(), key)
            .expect("server certificate and key");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// `der` as a PEM block of `label`.
fn pem(label: &str, der: &[u8]) -> String {
    let text = super::util::base64_encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
