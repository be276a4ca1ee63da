//! Certificates as kubectl accepts them, and TLS failures said so that a person can act.
//!
//! - [`KubectlVerifier`]: the API server's certificate is accepted when webpki verifies it against
//!   the kubeconfig's certificate authorities, **or** when it is, byte for byte, one of those
//!   certificates. Go's crypto/x509 (so kubectl) trusts a certificate found in its root pool as it
//!   is; webpki refuses a self-signed `CA:TRUE` certificate presented by the server itself
//!   (`CaUsedAsEndEntity`), as hand-built and appliance clusters have, and a pinned leaf whose
//!   issuer is not in the pool (`UnknownIssuer`). A pinned certificate is still checked as Go
//!   checks it: its validity period, the server name against its subjectAltNames, and an
//!   extended key usage that allows a TLS server, if it has one.
//! - [`explain`]: the one line for a TLS failure with the API server or the collector: which
//!   server, what was wrong, what to change. Pure.

use super::x509;
use crate::tls::{Rule, Verifier};
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, Error};
use std::sync::Arc;
use std::time::Duration;

/// Verifies the API server's certificate as kubectl does (see the module's documentation).
pub(crate) type KubectlVerifier = Verifier<Kubectl>;

/// kubectl's rule: a certificate trusted as it is, else the chain to a trusted one.
#[derive(Debug)]
pub(crate) struct Kubectl {
    trusted: Vec<CertificateDer<'static>>,
    webpki: Arc<WebPkiServerVerifier>,
}

/// A verifier trusting `trusted` (DER), the kubeconfig's certificate authorities.
pub(crate) fn kubectl_verifier(trusted: &[Vec<u8>]) -> Result<KubectlVerifier, String> {
    let trusted: Vec<CertificateDer<'static>> = trusted
        .iter()
        .map(|der| CertificateDer::from(der.clone()))
        .collect();
    let mut roots = rustls::RootCertStore::empty();
    for cert in &trusted {
        roots
            .add(cert.clone())
            .map_err(|e| format!("a certificate of the kubeconfig cannot be used: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("the kubeconfig's certificate authority: {e}"))?;
    Ok(Verifier {
        rule: Kubectl { trusted, webpki },
        provider,
    })
}

impl Rule for Kubectl {
    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if self
            .trusted
            .iter()
            .any(|t| t.as_ref() == end_entity.as_ref())
        {
            return verify_pinned(end_entity, server_name, now);
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }
}

/// A presented certificate that is one of the trusted ones: valid now, for a TLS server, and
/// for `server_name`. (That the server holds its key is proven by the handshake's signature.)
fn verify_pinned(
    cert: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<ServerCertVerified, Error> {
    let facts = x509::facts(cert.as_ref()).ok_or(CertificateError::BadEncoding)?;
    let at = |secs: i64| UnixTime::since_unix_epoch(Duration::from_secs(secs.max(0) as u64));
    let time = now.as_secs() as i64;
    if time < facts.not_before {
        let not_before = at(facts.not_before);
        return Err(CertificateError::NotValidYetContext {
            time: now,
            not_before,
        }
        .into());
    }
    if time > facts.not_after {
        let not_after = at(facts.not_after);
        return Err(CertificateError::ExpiredContext {
            time: now,
            not_after,
        }
        .into());
    }
    if !facts.server_auth {
        return Err(CertificateError::InvalidPurpose.into());
    }
    verify_server_name(&ParsedCertificate::try_from(cert)?, server_name)?;
    Ok(ServerCertVerified::assertion())
}

/// Which end of a TLS connection failed, for [`explain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    ApiServer,
    Collector,
}

/// The one line for a failed TLS connection to `peer` at `shown` (its URL, without
/// credentials), from the error's text; `None` when the text is not about TLS.
pub(crate) fn explain(peer: Peer, shown: &str, text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let has = |needle: &str| lower.contains(&needle.to_ascii_lowercase());
    let (who, trust) = match peer {
        Peer::ApiServer => (
            format!("the API server {shown}"),
            "set the kubeconfig cluster's certificate-authority-data (or certificate-authority) to the CA that signed it, or to the server's own certificate",
        ),
        Peer::Collector => (
            format!("the collector at {shown}"),
            "add the CA that signed it with --ca-file (SPARTAKUS_CA_FILE)",
        ),
    };
    let name_fix = match peer {
        Peer::ApiServer => {
            "use a server address the certificate names in the kubeconfig, or set its tls-server-name"
        }
        Peer::Collector => "use a host name the certificate names in --endpoint",
    };
    let (what, change) = if has("InvalidContentType") || has("corrupt message") {
        return Some(format!(
            "{who} does not speak TLS ({text}): use http:// or the server's HTTPS port"
        ));
    } else if has("UnknownIssuer") {
        ("its certificate is not signed by a CA trusted here", trust)
    } else if has("CaUsedAsEndEntity") {
        (
            "it presents a CA certificate as its own, which is trusted only if that very certificate is",
            trust,
        )
    } else if has("not valid for name") || has("NotValidForName") {
        ("its certificate is not valid for this host name", name_fix)
    } else if has("expired") {
        (
            "its certificate has expired",
            "renew the server's certificate, or correct this machine's clock",
        )
    } else if has("not valid yet") || has("NotValidYet") {
        (
            "its certificate is not valid yet",
            "correct this machine's clock (or the server's certificate dates)",
        )
    } else if has("InvalidPurpose") || has("extended key usage") {
        (
            "its certificate is not meant for a TLS server (extended key usage)",
            "give the server a certificate for serverAuth",
        )
    } else if has("certificate") || has("BadSignature") {
        ("its certificate was refused", trust)
    } else {
        return None;
    };
    Some(format!(
        "TLS verification of {who} failed: {what} ({text}); {change}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa,
        KeyPair, date_time_ymd,
    };

    fn params(names: &[&str], ca: bool) -> CertificateParams {
        let names = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let mut params = CertificateParams::new(names).unwrap();
        params.is_ca = if ca {
            IsCa::Ca(BasicConstraints::Unconstrained)
        } else {
            IsCa::ExplicitNoCa
        };
        params
    }

    fn self_signed(params: CertificateParams) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    fn verify(trusted: &[&[u8]], presented: &[u8], name: &str) -> Result<(), Error> {
        let trusted: Vec<Vec<u8>> = trusted.iter().map(|t| t.to_vec()).collect();
        let verifier = kubectl_verifier(&trusted).unwrap();
        let name = ServerName::try_from(name.to_string()).unwrap();
        let cert = CertificateDer::from(presented.to_vec());
        verifier
            .verify_server_cert(&cert, &[], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn a_self_signed_ca_presented_by_the_server_is_accepted_when_trusted_as_it_is() {
        let cert = self_signed(params(&["127.0.0.1", "kube.internal"], true));
        assert_eq!(verify(&[&cert], &cert, "127.0.0.1"), Ok(()));
        assert_eq!(verify(&[&cert], &cert, "kube.internal"), Ok(()));
        // The name is still checked.
        let err = verify(&[&cert], &cert, "other.internal").unwrap_err();
        assert!(err.to_string().contains("not valid for name"), "{err}");
        // Another certificate trusted instead: refused, as webpki refuses it.
        let other = self_signed(params(&["127.0.0.1"], true));
        let err = verify(&[&other], &cert, "127.0.0.1").unwrap_err();
        assert!(format!("{err:?}").contains("CaUsedAsEndEntity"), "{err:?}");
        let mut stranger = params(&["127.0.0.1"], false);
        stranger.distinguished_name = rcgen::DistinguishedName::new();
        stranger
            .distinguished_name
            .push(rcgen::DnType::CommonName, "a stranger");
        let stranger = self_signed(stranger);
        let err = verify(&[&cert], &stranger, "127.0.0.1").unwrap_err();
        assert!(format!("{err:?}").contains("UnknownIssuer"), "{err:?}");
    }

    #[test]
    fn a_pinned_leaf_is_accepted_but_not_when_expired_or_not_for_servers() {
        let ca_key = KeyPair::generate().unwrap();
        let ca = CertifiedIssuer::self_signed(params(&[], true), ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = params(&["localhost"], false)
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let leaf = leaf.der().to_vec();
        // Pinned without its CA: accepted as kubectl accepts it.
        assert_eq!(verify(&[&leaf], &leaf, "localhost"), Ok(()));
        // Through its CA, as always.
        assert_eq!(verify(&[ca.der()], &leaf, "localhost"), Ok(()));
        let mut old = params(&["localhost"], false);
        old.not_before = date_time_ymd(2019, 1, 1);
        old.not_after = date_time_ymd(2020, 1, 1);
        let old = self_signed(old);
        let err = verify(&[&old], &old, "localhost").unwrap_err();
        assert!(err.to_string().contains("certificate expired"), "{err}");
        let mut later = params(&["localhost"], false);
        later.not_before = date_time_ymd(2090, 1, 1);
        later.not_after = date_time_ymd(2091, 1, 1);
        let later = self_signed(later);
        let err = verify(&[&later], &later, "localhost").unwrap_err();
        assert!(err.to_string().contains("not valid yet"), "{err}");
        let mut client = params(&["localhost"], false);
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client = self_signed(client);
        let err = verify(&[&client], &client, "localhost").unwrap_err();
        assert!(format!("{err:?}").contains("InvalidPurpose"), "{err:?}");
    }

    #[test]
    fn every_tls_failure_says_which_server_what_and_what_to_change() {
        let api = |text: &str| explain(Peer::ApiServer, "https://10.0.0.1:6443", text);
        let collector = |text: &str| explain(Peer::Collector, "https://c.example/api/v1", text);
        let unknown = "client error (Connect): invalid peer certificate: UnknownIssuer";
        let text = api(unknown).unwrap();
        assert!(
            text.starts_with("TLS verification of the API server https://10.0.0.1:6443 failed: its certificate is not signed by a CA trusted here"),
            "{text}"
        );
        assert!(text.contains("certificate-authority-data"), "{text}");
        let text = collector(unknown).unwrap();
        assert!(
            text.contains("the collector at https://c.example/api/v1")
                && text.contains("--ca-file"),
            "{text}"
        );
        for (error, what) in [
            (
                "invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))",
                "a CA certificate as its own",
            ),
            (
                "invalid peer certificate: certificate not valid for name \"x\"; certificate is only valid for y",
                "not valid for this host name",
            ),
            (
                "invalid peer certificate: certificate expired: verification time 2 (UNIX), but certificate is not valid after 1 (1 seconds ago)",
                "has expired",
            ),
            (
                "invalid peer certificate: certificate not valid yet: verification time",
                "not valid yet",
            ),
            (
                "invalid peer certificate: InvalidPurpose",
                "not meant for a TLS server",
            ),
            ("invalid peer certificate: BadSignature", "was refused"),
        ] {
            let text = api(error).unwrap();
            assert!(text.contains(what) && text.contains(error), "{text}");
            assert!(!text.contains('\n'));
        }
        let text = api("received corrupt message of type InvalidContentType").unwrap();
        assert!(text.contains("does not speak TLS"), "{text}");
        assert!(
            collector("invalid peer certificate: certificate not valid for name")
                .unwrap()
                .contains("--endpoint")
        );
        assert_eq!(api("Connection refused (os error 111)"), None);
    }
}
