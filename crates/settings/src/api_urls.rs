//! `BAYZAT_ALLOWED_API_URLS`: the only places a company's Bayzat key may be sent to.
//!
//! Both config-service (when a URL is saved or tested) and sync-service (before every send) check
//! a company's `api_url` against this list, parsed here once so both read it the same way. URLs are
//! parsed with the same WHATWG parser the HTTP client uses, so what is checked is what is called.

use std::fmt;
use std::str::FromStr;

use crate::{Env, SettingsError};

/// The variable naming the allowed destinations.
pub const ALLOWED_API_URLS_VARIABLE: &str = "BAYZAT_ALLOWED_API_URLS";

/// Bayzat's production attendance endpoint: the default `api_url` and the default allowed prefix.
pub const BAYZAT_PRODUCTION_API_URL: &str = "https://integration.bayzat.com/attendance";

/// Allowed destinations for Bayzat keys: a comma-separated list of URL prefixes.
///
/// A URL is allowed when one prefix has the same scheme, host and port (the scheme's default port
/// when the prefix names none; any port when it ends its authority with `:*`), and the URL's path
/// starts with the prefix's path at a `/` boundary (`/attendance` allows `/attendance` and
/// `/attendance/v2`, not `/attendance-old`). The scheme must match exactly, so `http` is only ever
/// allowed by a prefix that says `http://`. A URL carrying a user name or password is never
/// allowed; prefixes cannot carry them, nor a query or fragment.
#[derive(Clone, PartialEq, Eq)]
pub struct AllowedApiUrls {
    prefixes: Vec<Prefix>,
}

#[derive(Clone, PartialEq, Eq)]
struct Prefix {
    scheme: String,
    host: String,
    /// None: any port.
    port: Option<u16>,
    path: String,
    /// As configured, for messages.
    text: String,
}

/// Why a URL may not receive a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiUrlRefusal {
    /// Not an absolute http(s) URL with a host, or one with credentials in it.
    #[error("not a usable http(s) URL: {0}")]
    Invalid(&'static str),
    /// A well-formed URL outside `BAYZAT_ALLOWED_API_URLS`.
    #[error("not under any of BAYZAT_ALLOWED_API_URLS ({allowed})")]
    NotAllowed { allowed: String },
}

impl AllowedApiUrls {
    /// Only Bayzat's production endpoint.
    pub fn production() -> Self {
        BAYZAT_PRODUCTION_API_URL
            .parse()
            .expect("the production URL is a valid prefix")
    }

    /// Reads `BAYZAT_ALLOWED_API_URLS`; Bayzat's production endpoint when unset.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        env.or(ALLOWED_API_URLS_VARIABLE, Self::production())
    }

    /// Checks that a key may be sent to `url`.
    pub fn check(&self, url: &str) -> Result<(), ApiUrlRefusal> {
        let url = parse_http_url(url.trim())?;
        if url.username() != "" || url.password().is_some() {
            return Err(ApiUrlRefusal::Invalid("it carries a user name or password"));
        }
        if self.prefixes.iter().any(|prefix| prefix.allows(&url)) {
            Ok(())
        } else {
            Err(ApiUrlRefusal::NotAllowed {
                allowed: self.to_string(),
            })
        }
    }

    /// Whether a key may be sent to `url`.
    pub fn permits(&self, url: &str) -> bool {
        self.check(url).is_ok()
    }
}

impl Prefix {
    fn allows(&self, url: &url::Url) -> bool {
        let path = url.path();
        url.scheme() == self.scheme
            && url.host_str() == Some(self.host.as_str())
            && self
                .port
                .is_none_or(|port| url.port_or_known_default() == Some(port))
            && path.starts_with(&self.path)
            && (self.path.ends_with('/')
                || path.len() == self.path.len()
                || path[self.path.len()..].starts_with('/'))
    }
}

fn parse_http_url(text: &str) -> Result<url::Url, ApiUrlRefusal> {
    let url = url::Url::parse(text).map_err(|_| ApiUrlRefusal::Invalid("it does not parse"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ApiUrlRefusal::Invalid("the scheme is not http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ApiUrlRefusal::Invalid("it has no host"));
    }
    Ok(url)
}

impl FromStr for Prefix {
    type Err = String;

    fn from_str(entry: &str) -> Result<Self, Self::Err> {
        let entry = entry.trim();
        // `:*` at the end of the authority means any port; the URL parser knows no such thing.
        let authority_start = entry.find("://").map_or(0, |i| i + 3);
        let authority_end = entry[authority_start..]
            .find(['/', '?', '#'])
            .map_or(entry.len(), |i| authority_start + i);
        let (parseable, any_port) = match entry[..authority_end].strip_suffix(":*") {
            Some(head) => {
                // After an IPv6 address's closing bracket, a ':' would be a second port.
                let host = head[authority_start.min(head.len())..].rsplit(']').next();
                if host.is_some_and(|host| host.contains(':')) {
                    return Err(format!("{entry:?} names a port and `*`"));
                }
                (format!("{head}{}", &entry[authority_end..]), true)
            }
            None => (entry.to_owned(), false),
        };
        let url = parse_http_url(&parseable).map_err(|e| format!("{entry:?} is {e}"))?;
        if url.username() != "" || url.password().is_some() {
            return Err(format!("{entry:?} carries credentials"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("{entry:?} has a query or fragment"));
        }
        Ok(Prefix {
            scheme: url.scheme().to_owned(),
            host: url.host_str().unwrap_or_default().to_owned(),
            port: if any_port {
                None
            } else {
                url.port_or_known_default()
            },
            path: url.path().to_owned(),
            text: entry.to_owned(),
        })
    }
}

impl FromStr for AllowedApiUrls {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let prefixes = value
            .split(',')
            .filter(|entry| !entry.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<Prefix>, String>>()?;
        if prefixes.is_empty() {
            return Err("no URL prefixes".to_owned());
        }
        Ok(Self { prefixes })
    }
}

impl fmt::Display for AllowedApiUrls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<&str> = self.prefixes.iter().map(|p| p.text.as_str()).collect();
        f.write_str(&texts.join(","))
    }
}

impl fmt::Debug for AllowedApiUrls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AllowedApiUrls({self})")
    }
}

/// `url` with any password replaced by `****`, for `Debug` output and logs (database and broker
/// URLs carry credentials). A value that does not parse as a URL is shown only as `••••`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Only URLs that cannot have a password refuse this, and they have none.
                let _ = parsed.set_password(Some("****"));
            }
            parsed.to_string()
        }
        Err(_) => "••••".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(list: &str) -> AllowedApiUrls {
        list.parse().unwrap()
    }

    #[test]
    fn the_default_allows_only_bayzat_production_over_https() {
        let production = AllowedApiUrls::production();
        let env = Env::from_pairs::<&str, &str>([]);
        assert_eq!(AllowedApiUrls::from_env(&env).unwrap(), production);
        for ok in [
            "https://integration.bayzat.com/attendance",
            " https://INTEGRATION.bayzat.com:443/attendance ",
            "https://integration.bayzat.com/attendance/",
            "https://integration.bayzat.com/attendance/v2?x=1",
        ] {
            assert!(production.permits(ok), "{ok}");
        }
        let table = [
            ("http://integration.bayzat.com/attendance", "NotAllowed"),
            (
                "https://integration.bayzat.com:8443/attendance",
                "NotAllowed",
            ),
            (
                "https://integration.bayzat.com/attendance-old",
                "NotAllowed",
            ),
            (
                "https://integration.bayzat.com/attendance/../admin",
                "NotAllowed",
            ),
            ("https://integration.bayzat.com/", "NotAllowed"),
            (
                "https://integration.bayzat.com.evil.example/attendance",
                "NotAllowed",
            ),
            (
                "https://evil.example/integration.bayzat.com/attendance",
                "NotAllowed",
            ),
            (
                "https://integration.bayzat.com@evil.example/attendance",
                "Invalid",
            ),
            ("https://u:p@integration.bayzat.com/attendance", "Invalid"),
            ("ftp://integration.bayzat.com/attendance", "Invalid"),
            ("integration.bayzat.com/attendance", "Invalid"),
            ("", "Invalid"),
        ];
        for (url, expected) in table {
            let refusal = production.check(url).unwrap_err();
            let kind = match refusal {
                ApiUrlRefusal::Invalid(_) => "Invalid",
                ApiUrlRefusal::NotAllowed { .. } => "NotAllowed",
            };
            assert_eq!(kind, expected, "{url}");
        }
    }

    #[test]
    fn http_needs_a_prefix_that_says_http_and_ports_must_match_unless_starred() {
        let list = allowed("http://127.0.0.1:8090, http://localhost:*/attendance");
        assert!(list.permits("http://127.0.0.1:8090/attendance"));
        assert!(!list.permits("https://127.0.0.1:8090/attendance"));
        assert!(!list.permits("http://127.0.0.1:8091/attendance"));
        assert!(!list.permits("http://127.0.0.1/attendance"));
        assert!(list.permits("http://localhost:1234/attendance"));
        assert!(list.permits("http://localhost/attendance/x"));
        assert!(!list.permits("http://localhost:1234/other"));
        assert_eq!(
            list.to_string(),
            "http://127.0.0.1:8090,http://localhost:*/attendance"
        );
        assert!(format!("{list:?}").contains("localhost:*"));
    }

    #[test]
    fn malformed_lists_are_refused() {
        for bad in [
            "",
            " , ",
            "integration.bayzat.com",
            "ftp://x/",
            "https://u:p@x/",
            "https://x/?q=1",
            "https://x:443:*/",
            "https://x:*:443/",
        ] {
            assert!(bad.parse::<AllowedApiUrls>().is_err(), "{bad:?}");
        }
        let env = Env::from_pairs([(ALLOWED_API_URLS_VARIABLE, "nonsense")]);
        let error = AllowedApiUrls::from_env(&env).unwrap_err();
        assert_eq!(error.variable, ALLOWED_API_URLS_VARIABLE);
    }

    #[test]
    fn urls_with_passwords_are_redacted() {
        let redacted = redact_url("postgres://bridge:s3cret@db:5432/attendance");
        assert!(!redacted.contains("s3cret"), "{redacted}");
        assert!(redacted.starts_with("postgres://bridge:"), "{redacted}");
        assert!(redacted.ends_with("@db:5432/attendance"), "{redacted}");
        assert!(!redact_url("amqp://guest:guest@mq:5672/%2f").contains(":guest@"));
        assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
        assert_eq!(redact_url("not a url s3cret"), "••••");
    }
}
