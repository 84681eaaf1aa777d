//! The mail settings (`SMTP_URL`, `NOTIFY_MAIL_FROM`, `CONSOLE_PUBLIC_URL`,
//! `NOTIFY_DIGEST_MINUTES`) and the SMTP transport (lettre, over tokio with rustls).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{Address, AsyncTransport, Message, Tokio1Executor};
use settings::{Env, SettingsError};

use super::render::Rendered;

/// How long one SMTP conversation may take (connect, TLS, send).
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Where mail goes: `SMTP_URL`, `smtp://` or `smtps://` with optional credentials and
/// `?tls=required|opportunistic` (lettre's connection URL). `Debug` and `Display` hide its
/// password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl(String);

impl SmtpUrl {
    fn transport(
        &self,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, lettre::transport::smtp::Error> {
        Ok(AsyncSmtpTransport::<Tokio1Executor>::from_url(&self.0)?
            .timeout(Some(SMTP_TIMEOUT))
            .build())
    }
}

impl FromStr for SmtpUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let url = reqwest::Url::parse(s.trim()).map_err(|_| {
            "expected smtp://host[:port][?tls=required|opportunistic] or smtps://host[:port]"
                .to_owned()
        })?;
        let tls = url
            .query_pairs()
            .find(|(name, _)| name == "tls")
            .map(|(_, value)| value.into_owned());
        match (url.scheme(), tls.as_deref()) {
            ("smtp", None | Some("required" | "opportunistic")) | ("smtps", None) => {}
            ("smtps", Some(_)) => {
                return Err("smtps:// is TLS from the start; leave out ?tls=".to_owned())
            }
            ("smtp", Some(other)) => {
                return Err(format!(
                    "tls={other:?}: expected tls=required or tls=opportunistic"
                ))
            }
            (scheme, _) => return Err(format!("scheme {scheme:?}: expected smtp or smtps")),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("no host".to_owned());
        }
        let parsed = SmtpUrl(s.trim().to_owned());
        parsed
            .transport()
            .map_err(|_| "lettre cannot build a transport from it".to_owned())?;
        Ok(parsed)
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SmtpUrl({self})")
    }
}

impl fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&settings::redact_url(&self.0))
    }
}

/// The SMTP server and the sender mails carry.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// `SMTP_URL`.
    pub url: SmtpUrl,
    /// `NOTIFY_MAIL_FROM`: `bridge@example.com` or `Attendance bridge <bridge@example.com>`.
    pub from: Mailbox,
}

impl SmtpSettings {
    /// From an `SMTP_URL` and a `NOTIFY_MAIL_FROM`, checked as the environment's are.
    pub fn parse(url: &str, from: &str) -> Result<Self, String> {
        Ok(Self {
            url: url.parse()?,
            from: from.parse::<MailFrom>()?.0,
        })
    }
}

/// Mail to company contacts and webhook owners.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// None (`SMTP_URL` unset): no mail is sent; queued mail waits (see `retention`).
    pub smtp: Option<SmtpSettings>,
    /// `CONSOLE_PUBLIC_URL`: where mails link to, without a trailing `/`.
    pub console_url: String,
    /// `NOTIFY_DIGEST_MINUTES`: a contact gets at most one mail per this window; events within it
    /// are folded into the next mail.
    pub digest_window: Duration,
    /// How often the mailer looks for mail to send.
    pub tick: Duration,
}

pub const DEFAULT_CONSOLE_URL: &str = "http://127.0.0.1:8080";
pub const DEFAULT_DIGEST: Duration = Duration::from_secs(15 * 60);

impl Default for MailSettings {
    /// No SMTP server: nothing is mailed.
    fn default() -> Self {
        Self {
            smtp: None,
            console_url: DEFAULT_CONSOLE_URL.to_owned(),
            digest_window: DEFAULT_DIGEST,
            tick: Duration::from_secs(2),
        }
    }
}

/// `NOTIFY_DIGEST_MINUTES`: minutes, possibly fractional, above zero.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Minutes(Duration);

impl FromStr for Minutes {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let minutes: f64 = s
            .parse()
            .map_err(|_| "expected a number of minutes".to_owned())?;
        if minutes.is_nan() || minutes <= 0.0 {
            return Err("expected a number of minutes above zero".to_owned());
        }
        Duration::try_from_secs_f64(minutes * 60.0)
            .map(Minutes)
            .map_err(|_| "too many minutes".to_owned())
    }
}

/// `CONSOLE_PUBLIC_URL`: an http(s) URL without credentials, query or fragment.
#[derive(Debug, Clone, PartialEq)]
struct ConsoleUrl(String);

impl FromStr for ConsoleUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let url = reqwest::Url::parse(s).map_err(|_| "expected an http(s) URL".to_owned())?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err("expected an http(s) URL".to_owned());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("a URL in every mail must not carry credentials".to_owned());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("expected no query or fragment".to_owned());
        }
        Ok(ConsoleUrl(url.as_str().trim_end_matches('/').to_owned()))
    }
}

/// `NOTIFY_MAIL_FROM`.
struct MailFrom(Mailbox);

impl FromStr for MailFrom {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<Mailbox>()
            .map(MailFrom)
            .map_err(|e| format!("not a mail address ({e})"))
    }
}

impl MailSettings {
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let smtp = match env.optional::<SmtpUrl>("SMTP_URL")? {
            None => None,
            Some(url) => Some(SmtpSettings {
                url,
                from: env
                    .required::<MailFrom>("NOTIFY_MAIL_FROM")
                    .map_err(|e| {
                        if e.problem.starts_with("missing") {
                            SettingsError {
                                problem: "missing (required when SMTP_URL is set)".to_owned(),
                                ..e
                            }
                        } else {
                            e
                        }
                    })?
                    .0,
            }),
        };
        Ok(Self {
            smtp,
            console_url: env
                .or(
                    "CONSOLE_PUBLIC_URL",
                    ConsoleUrl(DEFAULT_CONSOLE_URL.to_owned()),
                )?
                .0,
            digest_window: env.or("NOTIFY_DIGEST_MINUTES", Minutes(DEFAULT_DIGEST))?.0,
            tick: Duration::from_secs(2),
        })
    }
}

/// Why a mail did not go out.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The server refused it for good (no such mailbox, a bad address): sending it again would
    /// be refused again.
    #[error("refused: {0}")]
    Permanent(String),
    /// The server was away, timed out or asked to try later.
    #[error("{0}")]
    Transient(String),
}

/// The SMTP transport and the sender. Cheap to clone.
#[derive(Clone)]
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The server, for logs (password hidden).
    server: String,
}

impl fmt::Debug for Smtp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Smtp")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl Smtp {
    pub fn new(settings: &SmtpSettings) -> Result<Self, String> {
        Ok(Self {
            transport: settings
                .url
                .transport()
                .map_err(|_| format!("no SMTP transport for {}", settings.url))?,
            from: settings.from.clone(),
            server: settings.url.to_string(),
        })
    }

    /// The server, password hidden.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Sends `mail` to `to`: a plain text part and an HTML part.
    pub async fn send(&self, to: &str, mail: &Rendered) -> Result<(), SendError> {
        let to: Address = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("{to:?} is not a mail address ({e})")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(mail.subject.clone())
            .date_now()
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|e| SendError::Permanent(format!("the mail cannot be built: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_permanent() => Err(SendError::Permanent(error.to_string())),
            Err(error) => Err(SendError::Transient(error.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn without_smtp_url_nothing_is_mailed_and_defaults_hold() {
        let settings = MailSettings::from_env(&env(&[])).unwrap();
        assert!(settings.smtp.is_none());
        assert_eq!(settings.console_url, "http://127.0.0.1:8080");
        assert_eq!(settings.digest_window, Duration::from_secs(900));
    }

    #[test]
    fn smtp_urls_and_their_tls_options_are_checked() {
        for ok in [
            "smtp://127.0.0.1:2525",
            "smtp://user:pass@mail.example.com:587?tls=required",
            "smtp://mail.example.com?tls=opportunistic",
            "smtps://user:pass@mail.example.com",
        ] {
            let settings = MailSettings::from_env(&env(&[
                ("SMTP_URL", ok),
                ("NOTIFY_MAIL_FROM", "Attendance bridge <bridge@example.com>"),
            ]))
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
            let smtp = settings.smtp.unwrap();
            assert_eq!(smtp.from.email.to_string(), "bridge@example.com");
            assert!(!format!("{:?}", smtp.url).contains("pass@"), "{ok}");
        }
        for (bad, why) in [
            ("http://mail.example.com", "scheme \"http\""),
            ("smtp://mail.example.com?tls=maybe", "tls=\"maybe\""),
            ("smtps://mail.example.com?tls=required", "leave out ?tls="),
            ("not a url", "expected smtp://"),
        ] {
            let error = MailSettings::from_env(&env(&[
                ("SMTP_URL", bad),
                ("NOTIFY_MAIL_FROM", "bridge@example.com"),
            ]))
            .unwrap_err();
            assert_eq!(error.variable, "SMTP_URL");
            assert!(error.problem.contains(why), "{bad}: {}", error.problem);
        }
        let error =
            MailSettings::from_env(&env(&[("SMTP_URL", "smtp://127.0.0.1:25")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "configuration: NOTIFY_MAIL_FROM: missing (required when SMTP_URL is set)"
        );
        let error = MailSettings::from_env(&env(&[
            ("SMTP_URL", "smtp://127.0.0.1:25"),
            ("NOTIFY_MAIL_FROM", "nobody"),
        ]))
        .unwrap_err();
        assert_eq!(error.variable, "NOTIFY_MAIL_FROM");
    }

    #[test]
    fn the_window_and_the_console_url_are_checked() {
        let settings = MailSettings::from_env(&env(&[
            ("NOTIFY_DIGEST_MINUTES", "0.5"),
            ("CONSOLE_PUBLIC_URL", "https://bridge.example.com/console/"),
        ]))
        .unwrap();
        assert_eq!(settings.digest_window, Duration::from_secs(30));
        assert_eq!(settings.console_url, "https://bridge.example.com/console");
        for (name, bad) in [
            ("NOTIFY_DIGEST_MINUTES", "0"),
            ("NOTIFY_DIGEST_MINUTES", "-1"),
            ("NOTIFY_DIGEST_MINUTES", "soon"),
            ("CONSOLE_PUBLIC_URL", "ftp://x"),
            ("CONSOLE_PUBLIC_URL", "https://u:p@x"),
            ("CONSOLE_PUBLIC_URL", "https://x/?a=b"),
        ] {
            let error = MailSettings::from_env(&env(&[(name, bad)])).unwrap_err();
            assert_eq!(error.variable, name, "{bad}");
        }
    }

    #[test]
    fn the_url_is_shown_without_its_password() {
        let url: SmtpUrl = "smtp://mailer:s3cret@mail.example.com:587?tls=required"
            .parse()
            .unwrap();
        assert!(!url.to_string().contains("s3cret"));
        assert!(!format!("{url:?}").contains("s3cret"));
    }
}
