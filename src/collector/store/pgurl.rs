//! `--store postgres://USER[:PASSWORD]@HOST[:PORT]/DB?sslmode=...`: parsed once into a [`PgUrl`]
//! whose `Display` and `Debug` never show the password. Pure.
//!
//! The user and password end at the last `@` before the query string that follows it, so a
//! password may hold `/`, `?`, `#` (or `@`) as generated ones do, percent-encoded or not. No
//! message shows the password, or any part of a URL that may hold it: a message about a URL
//! that does not parse names what is wrong and shows the URL with its user information hidden
//! ([`redact_given`]), or only its scheme when it has no `@`.
//!
//! Query parameters, with libpq's meanings: `sslmode` (`disable`, `prefer` (the default),
//! `require`, `verify-ca`, `verify-full`), `sslrootcert=PATH` (the CA to trust; with `require` it
//! makes the mode `verify-ca`, as in libpq; without it the verifying modes trust the system's
//! roots), `connect_timeout` (seconds, default 5) and `application_name`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// How TLS to the database is used (libpq's `sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Never.
    Disable,
    /// If the server offers it, without checking its certificate.
    Prefer,
    /// Always, without checking the certificate.
    Require,
    /// Always; the certificate must chain to a trusted CA.
    VerifyCa,
    /// Always; the certificate must chain to a trusted CA and name the host.
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Result<SslMode, String> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "prefer" | "allow" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode={other}: want disable, prefer, require, verify-ca or verify-full"
                ));
            }
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// A PostgreSQL store's address and credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl {
    pub user: String,
    password: Option<String>,
    /// A host name or an IP address (without brackets).
    pub host: String,
    pub port: u16,
    pub(crate) dbname: String,
    pub sslmode: SslMode,
    pub sslrootcert: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub(crate) application_name: String,
}

impl PgUrl {
    /// Parse a `postgres://` or `postgresql://` URL. The error never contains the password.
    pub fn parse(url: &str) -> Result<PgUrl, String> {
        let rest = strip_scheme(url).ok_or("want postgres://USER@HOST:PORT/DATABASE")?;
        let (userinfo, after) = split_userinfo(rest);
        let (hostport, path_query) = match after.find(['/', '?']) {
            Some(i) => after.split_at(i),
            None => (after, ""),
        };
        let (user, password) = match userinfo {
            None => ("postgres".to_string(), None),
            Some(u) => match u.split_once(':') {
                Some((user, pw)) => (decode(user)?, Some(decode(pw)?)),
                None => (decode(u)?, None),
            },
        };
        if user.is_empty() {
            return Err("no user name before @".into());
        }
        let (host, port) = host_port(hostport).map_err(|e| match userinfo {
            // Without `@`, what looks like HOST:PORT may be USER:PASSWORD.
            None if hostport.contains(':') => format!(
                "{e}; if a user and password come before it, the `@` and the host after them \
                 are missing"
            ),
            _ => e,
        })?;
        let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
        let dbname = decode(path.trim_start_matches('/'))?;
        let mut url = PgUrl {
            dbname: if dbname.is_empty() {
                user.clone()
            } else {
                dbname
            },
            user,
            password,
            host,
            port,
            sslmode: SslMode::Prefer,
            sslrootcert: None,
            connect_timeout: Duration::from_secs(5),
            application_name: "spartakus".into(),
        };
        url.options(query)?;
        Ok(url)
    }

    fn options(&mut self, query: &str) -> Result<(), String> {
        let mut mode = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value)?;
            match key {
                "sslmode" => mode = Some(SslMode::parse(&value)?),
                "sslrootcert" if !value.is_empty() => self.sslrootcert = Some(value.into()),
                "connect_timeout" => {
                    let secs: u64 = value
                        .parse()
                        .ok()
                        .filter(|s| (1..=3600).contains(s))
                        .ok_or("connect_timeout: want seconds from 1 to 3600")?;
                    self.connect_timeout = Duration::from_secs(secs);
                }
                "application_name" => self.application_name = value,
                other => {
                    return Err(format!(
                        "unknown parameter `{other}` (known: sslmode, sslrootcert, \
                         connect_timeout, application_name)"
                    ));
                }
            }
        }
        self.sslmode = match (mode, &self.sslrootcert) {
            (Some(SslMode::Require), Some(_)) => SslMode::VerifyCa,
            (Some(mode), _) => mode,
            (None, _) => SslMode::Prefer,
        };
        Ok(())
    }

    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }
}

fn strip_scheme(url: &str) -> Option<&str> {
    let lower = url.get(..13).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("postgresql://") {
        Some(&url[13..])
    } else if lower.starts_with("postgres://") {
        Some(&url[11..])
    } else {
        None
    }
}

fn host_port(text: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address without its `]`")?;
        (host.to_string(), after.strip_prefix(':'))
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (text.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err("no host (want postgres://USER@HOST:PORT/DATABASE)".into());
    }
    if host.contains(',') {
        return Err(
            "several hosts are not supported; give one (a load balancer or primary)".into(),
        );
    }
    let port = match port {
        None | Some("") => 5432,
        Some(p) => p
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or("the port after the host's `:` is not a number from 1 to 65535")?,
    };
    Ok((decode(&host)?, port))
}

/// Percent-decoding; the error does not repeat the text (it may be a password).
fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3).ok_or("a `%` escape cut short")?;
            let b = u8::from_str_radix(hex, 16).map_err(|_| "a `%` escape that is not hex")?;
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "a `%` escape that is not UTF-8".to_string())
}

/// The URL as it is safe to show: the password replaced, percent-escapes kept minimal.
impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let password = if self.password.is_some() { ":****" } else { "" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(
            f,
            "postgres://{}{password}@{host}:{}/{}?sslmode={}",
            self.user,
            self.port,
            self.dbname,
            self.sslmode.name()
        )?;
        if let Some(ca) = &self.sslrootcert {
            write!(f, "&sslrootcert={}", ca.display())?;
        }
        Ok(())
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({self})")
    }
}

/// A URL without its scheme as (user information, the rest): the user information ends at the
/// first `@` that is the last before the next `?` after it (a `?` and an `@` may both be in a
/// password, and an `@` in the query string, `application_name=me@host`).
fn split_userinfo(rest: &str) -> (Option<&str>, &str) {
    let ats: Vec<usize> = rest.match_indices('@').map(|(i, _)| i).collect();
    for (n, at) in ats.iter().enumerate() {
        let query = rest[at + 1..].find('?').map_or(rest.len(), |q| at + 1 + q);
        if ats.get(n + 1).is_none_or(|next| *next > query) {
            return (Some(&rest[..*at]), &rest[at + 1..]);
        }
    }
    (None, rest)
}

/// Every `postgres://` (or `postgresql://`) URL in `text` with its user information hidden as
/// [`redact_given`] hides it: for what a driver or a library said, which might quote one. The
/// rest of the text is left as it is.
pub(crate) fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest
        .char_indices()
        .map(|(i, _)| i)
        .find(|i| strip_scheme(&rest[*i..]).is_some())
    {
        out.push_str(&rest[..at]);
        let end = rest[at..]
            .find(char::is_whitespace)
            .map_or(rest.len(), |e| at + e);
        out.push_str(&redact_given(&rest[at..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A URL as given (before parsing), shown without what may be its password: the user
/// information as `USER:****@` (the user alone when it has no password); a URL without `@`,
/// whose `HOST:PORT` may be a `USER:PASSWORD`, as its scheme and `****` when it holds a `:`
/// before its path. For refusing a URL that does not parse.
pub(crate) fn redact_given(url: &str) -> String {
    let Some(rest) = strip_scheme(url) else {
        return url.to_string();
    };
    let scheme = &url[..url.len() - rest.len()];
    match split_userinfo(rest) {
        (Some(userinfo), after) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let hidden = if userinfo.contains(':') { ":****" } else { "" };
            format!("{scheme}{user}{hidden}@{after}")
        }
        (None, _) => {
            let authority = rest.split(['/', '?']).next().unwrap_or("");
            if authority.contains(':') && !authority.starts_with('[') {
                format!("{scheme}****")
            } else {
                url.to_string()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_libpq_takes() {
        let u = PgUrl::parse("postgres://spartakus:s%40cret@db.example:6432/reports?sslmode=verify-full&connect_timeout=3").unwrap();
        assert_eq!(
            (u.user.as_str(), u.password(), u.host.as_str(), u.port),
            ("spartakus", Some("s@cret"), "db.example", 6432)
        );
        assert_eq!(u.dbname, "reports");
        assert_eq!(u.sslmode, SslMode::VerifyFull);
        assert_eq!(u.connect_timeout, Duration::from_secs(3));

        let u = PgUrl::parse("postgresql://me@[::1]/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.dbname.as_str()),
            ("::1", 5432, "me")
        );
        assert_eq!(u.sslmode, SslMode::Prefer, "libpq's default");
        assert_eq!(u.to_string(), "postgres://me@[::1]:5432/me?sslmode=prefer");

        let u = PgUrl::parse("postgres://me@h/d?sslmode=require&sslrootcert=/ca.pem").unwrap();
        assert_eq!(
            u.sslmode,
            SslMode::VerifyCa,
            "require with a root CA verifies it"
        );
        let u = PgUrl::parse("postgres://me@h/d?sslmode=disable").unwrap();
        assert_eq!(u.sslmode, SslMode::Disable);
    }

    #[test]
    fn refuses_with_messages_that_never_show_the_password() {
        for (bad, says) in [
            ("mysql://h/d", "want postgres://"),
            ("postgres://me:pw@/d", "no host"),
            (
                "postgres://me:pw@h:99999/d",
                "port after the host's `:` is not a number",
            ),
            (
                "postgres://me:pw@h/d?sslmode=sometimes",
                "sslmode=sometimes",
            ),
            (
                "postgres://me:pw@h/d?sslcert=x",
                "unknown parameter `sslcert`",
            ),
            ("postgres://me:pw@a,b/d", "several hosts"),
            ("postgres://me:p%zzw@h/d", "not hex"),
            ("postgres://:pw@h/d", "no user"),
        ] {
            let e = PgUrl::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(!e.contains("pw"), "{bad}: {e}");
        }
    }

    #[test]
    fn shown_without_the_password() {
        let u = PgUrl::parse("postgres://u:hunter2@h/d").unwrap();
        for shown in [u.to_string(), format!("{u:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("u:****@h:5432/d"), "{shown}");
        }
        assert_eq!(
            redact_given("postgres://u:hunter2@h:1/d?x=1"),
            "postgres://u:****@h:1/d?x=1"
        );
        assert_eq!(redact_given("postgres://u@h/d"), "postgres://u@h/d");
    }

    #[test]
    fn passwords_with_slashes_question_marks_and_at_signs() {
        for (url, password, host, db) in [
            (
                "postgres://spartakus:Ab+c/dEf==@host/db",
                "Ab+c/dEf==",
                "host",
                "db",
            ),
            ("postgres://u:a?b#c@h:5433/d", "a?b#c", "h", "d"),
            ("postgres://u:p@ss@h/d", "p@ss", "h", "d"),
            ("postgres://u:p%2Fw@h/d", "p/w", "h", "d"),
            (
                "postgres://u:pw@h/d?application_name=me@there",
                "pw",
                "h",
                "d",
            ),
            ("postgresql://u:x/y?z@[::1]:6432/", "x/y?z", "::1", "u"),
        ] {
            let u = PgUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(
                (u.password(), u.host.as_str(), u.dbname.as_str()),
                (Some(password), host, db),
                "{url}"
            );
            assert!(!u.to_string().contains(password), "{u}");
            assert!(
                !redact_given(url).contains(password),
                "{}",
                redact_given(url)
            );
        }
        let u = PgUrl::parse("postgres://u:pw@h/d?application_name=me@there").unwrap();
        assert_eq!(u.application_name, "me@there");
    }

    #[test]
    fn a_url_without_its_at_shows_no_part_that_may_be_the_password() {
        let url = "postgres://spartakus:Ab+c/dEf==host/db";
        let e = PgUrl::parse(url).unwrap_err();
        assert!(!e.contains("Ab+c") && !e.contains("dEf"), "{e}");
        assert!(
            e.contains("the `@` and the host after them are missing"),
            "{e}"
        );
        assert_eq!(redact_given(url), "postgres://****");
        assert_eq!(redact_given("postgres://h:5432/d"), "postgres://****");
        assert_eq!(
            redact_given("postgres://h/d?sslmode=x"),
            "postgres://h/d?sslmode=x"
        );
        assert_eq!(redact_given("postgres://[::1]/d"), "postgres://[::1]/d");
    }

    #[test]
    fn a_message_keeps_its_words_and_loses_only_the_urls_user_information() {
        // A one-letter password: the message is not starred wherever an `a` is.
        assert_eq!(
            redact("password authentication failed for user \"a\""),
            "password authentication failed for user \"a\""
        );
        assert_eq!(
            redact("could not reach postgres://u:a@h/d: timed out"),
            "could not reach postgres://u:****@h/d: timed out"
        );
        assert_eq!(
            redact("x postgresql://u:s/e?c@h/d and postgres://v@h2/e"),
            "x postgresql://u:****@h/d and postgres://v@h2/e"
        );
    }
}
