//! The few facts of an X.509 certificate that accepting a pinned certificate needs and that
//! rustls does not expose: its validity period and whether its extended key usage allows a TLS
//! server. A small DER walk over the fields before them; no parsing crate. Pure.

/// What [`facts`] reads from a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Facts {
    /// `notBefore`, seconds since the Unix epoch.
    pub not_before: i64,
    /// `notAfter`, seconds since the Unix epoch.
    pub not_after: i64,
    /// No extended key usage extension, or one that allows `serverAuth` or any purpose: what
    /// Go's crypto/x509 (and so kubectl) asks of a server's certificate.
    pub(crate) server_auth: bool,
}

/// The extnID of extended key usage, 2.5.29.37, as DER content.
const EKU: &[u8] = &[0x55, 0x1d, 0x25];
/// anyExtendedKeyUsage, 2.5.29.37.0.
const EKU_ANY: &[u8] = &[0x55, 0x1d, 0x25, 0x00];
/// id-kp-serverAuth, 1.3.6.1.5.5.7.3.1.
const EKU_SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];

const SEQUENCE: u8 = 0x30;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0] EXPLICIT Version`, `[3] EXPLICIT Extensions` of a TBSCertificate.
const VERSION: u8 = 0xa0;
const EXTENSIONS: u8 = 0xa3;

/// One DER element: its tag and its content. `rest` is what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    let (&first, input) = input.split_first()?;
    let (len, input) = if first < 0x80 {
        (usize::from(first), input)
    } else {
        let octets = usize::from(first & 0x7f);
        if octets == 0 || octets > 4 || input.len() < octets {
            return None;
        }
        let (bytes, input) = input.split_at(octets);
        let len = bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b));
        (len, input)
    };
    (input.len() >= len).then(|| {
        let (content, rest) = input.split_at(len);
        (tag, content, rest)
    })
}

/// The content of the next element, which must have `tag`, and what follows it.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, content, rest) = element(input)?;
    (found == tag).then_some((content, rest))
}

/// Reads the validity period and the extended key usage of a DER certificate. `None` if it is
/// not one.
pub(crate) fn facts(der: &[u8]) -> Option<Facts> {
    let (certificate, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(certificate, SEQUENCE)?;
    let mut rest = tbs;
    if let Some((VERSION, _, after)) = element(rest) {
        rest = after;
    }
    // serialNumber, signature, issuer
    for _ in 0..3 {
        rest = element(rest)?.2;
    }
    let (validity, mut rest) = expect(rest, SEQUENCE)?;
    let (not_before, after) = time(validity)?;
    let (not_after, _) = time(after)?;
    // subject, subjectPublicKeyInfo, then the optional unique IDs and extensions
    rest = element(rest)?.2;
    rest = element(rest)?.2;
    let mut server_auth = true;
    while let Some((tag, content, after)) = element(rest) {
        if tag == EXTENSIONS {
            server_auth = allows_server_auth(content)?;
        }
        rest = after;
    }
    Some(Facts {
        not_before,
        not_after,
        server_auth,
    })
}

/// Whether the extensions (`[3]`'s content) allow a TLS server: no EKU, or one listing
/// serverAuth or anyExtendedKeyUsage.
fn allows_server_auth(extensions: &[u8]) -> Option<bool> {
    let (mut list, _) = expect(extensions, SEQUENCE)?;
    while !list.is_empty() {
        let (extension, after) = expect(list, SEQUENCE)?;
        list = after;
        let (id, mut rest) = expect(extension, OID)?;
        if id != EKU {
            continue;
        }
        if let Some((BOOLEAN, _, after)) = element(rest) {
            rest = after;
        }
        let (value, _) = expect(rest, OCTET_STRING)?;
        let (mut purposes, _) = expect(value, SEQUENCE)?;
        while !purposes.is_empty() {
            let (purpose, after) = expect(purposes, OID)?;
            if purpose == EKU_SERVER_AUTH || purpose == EKU_ANY {
                return Some(true);
            }
            purposes = after;
        }
        return Some(false);
    }
    Some(true)
}

/// A UTCTime or GeneralizedTime in UTC (`Z`), as seconds since the Unix epoch.
fn time(input: &[u8]) -> Option<(i64, &[u8])> {
    let (tag, content, rest) = element(input)?;
    let text = std::str::from_utf8(content).ok()?.strip_suffix('Z')?;
    let (year, text) = match tag {
        // RFC 5280: two-digit years 50-99 are 19xx, 00-49 are 20xx.
        UTC_TIME => {
            let yy: i64 = digits(text.get(..2)?)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        GENERALIZED_TIME => (digits(text.get(..4)?)?, &text[4..]),
        _ => return None,
    };
    if text.len() != 10 {
        return None;
    }
    let field = |at: usize| digits(&text[at..at + 2]);
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3600 + minute * 60 + second, rest))
}

fn digits(text: &str) -> Option<i64> {
    text.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| text.parse().ok())
        .flatten()
}

/// Days from 1970-01-01 to the given date of the proleptic Gregorian calendar (Howard
/// Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, KeyPair, date_time_ymd};

    fn certificate(change: impl FnOnce(&mut CertificateParams)) -> Vec<u8> {
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        change(&mut params);
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn validity_is_read_from_both_time_forms() {
        let der = certificate(|p| {
            p.not_before = date_time_ymd(2001, 2, 3);
            p.not_after = date_time_ymd(2063, 4, 5);
        });
        let facts = facts(&der).unwrap();
        // 2001-02-03 (UTCTime) and 2063-04-05 (GeneralizedTime: after 2049).
        assert_eq!(facts.not_before, 981_158_400);
        assert_eq!(facts.not_after, 2_942_956_800);
        assert!(facts.server_auth, "no EKU extension allows any use");
    }

    #[test]
    fn extended_key_usage_decides_server_auth() {
        for (purposes, allowed) in [
            (vec![ExtendedKeyUsagePurpose::ServerAuth], true),
            (vec![ExtendedKeyUsagePurpose::Any], true),
            (
                vec![
                    ExtendedKeyUsagePurpose::ClientAuth,
                    ExtendedKeyUsagePurpose::ServerAuth,
                ],
                true,
            ),
            (vec![ExtendedKeyUsagePurpose::ClientAuth], false),
            (vec![ExtendedKeyUsagePurpose::CodeSigning], false),
        ] {
            let der = certificate(|p| p.extended_key_usages = purposes.clone());
            assert_eq!(facts(&der).unwrap().server_auth, allowed, "{purposes:?}");
        }
    }

    #[test]
    fn civil_dates_and_times() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        let utc = |s: &str| {
            let der = [&[UTC_TIME, s.len() as u8], s.as_bytes()].concat();
            time(&der).map(|(seconds, _)| (seconds, ()))
        };
        assert_eq!(utc("700101000000Z").unwrap().0, 0);
        assert_eq!(utc("491231235959Z").unwrap().0, 2_524_607_999);
        assert_eq!(utc("500101000000Z").unwrap().0, -631_152_000);
        for bad in [
            "7001010000Z",
            "701301000000Z",
            "70010100000aZ",
            "700101000000",
        ] {
            assert!(utc(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn what_is_not_a_certificate_is_none() {
        let der = certificate(|_| {});
        assert!(facts(&der).is_some());
        for cut in [0, 1, 10, der.len() / 2, der.len() - 1] {
            assert!(facts(&der[..cut]).is_none(), "cut at {cut}");
        }
        assert!(facts(b"not DER at all").is_none());
        // A length of five octets is not something a certificate needs.
        assert!(element(&[0x30, 0x85, 1, 0, 0, 0, 0]).is_none());
    }
}
