//! A real SMTP server a test owns: aiosmtpd (Debian's python3-aiosmtpd, or PyPI's aiosmtpd)
//! running `scripts/smtp_sink.py`, which writes every message it receives to a folder of this
//! test. Recipients whose local part starts with `refused` are refused for good (550).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/smtp_sink.py");

/// The interpreters tried, in order: Debian's, whose python3-aiosmtpd scripts/deps.sh installs,
/// then whichever `python3` is first on the PATH (with aiosmtpd from PyPI).
const PYTHONS: [&str; 2] = ["/usr/bin/python3", "python3"];

/// A message the server received, decoded.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The envelope's recipients.
    pub to: Vec<String>,
    pub from: String,
    pub subject: String,
    /// The plain text part, with `\n` line ends.
    pub text: String,
    /// The HTML part, with `\n` line ends.
    pub html: String,
    /// The message as it came over the wire (headers and encoded parts).
    pub raw: String,
    /// When the server received it, in seconds since the Unix epoch.
    pub received_at: f64,
}

impl ReceivedMail {
    fn read(path: &Path) -> Option<Self> {
        let record: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        let text = |name: &str| {
            record[name]
                .as_str()
                .unwrap_or_default()
                .replace("\r\n", "\n")
        };
        Some(Self {
            to: record["to"]
                .as_array()
                .map(|to| {
                    to.iter()
                        .filter_map(|a| a.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            from: text("from"),
            subject: text("subject"),
            text: text("text"),
            html: text("html"),
            raw: text("raw"),
            received_at: record["received_at"].as_f64().unwrap_or_default(),
        })
    }

    /// Whether `needle` is anywhere in the message: raw, or any decoded part.
    pub fn contains(&self, needle: &str) -> bool {
        [&self.raw, &self.subject, &self.text, &self.html]
            .iter()
            .any(|part| part.contains(needle))
    }
}

/// The running server; dropping it stops the server and removes its folder.
pub struct SmtpSink {
    port: u16,
    directory: PathBuf,
    child: Child,
}

impl SmtpSink {
    /// Starts the server on a free port of 127.0.0.1.
    pub async fn start() -> Self {
        let directory = std::env::temp_dir().join(crate::unique_name("smtp-sink"));
        std::fs::create_dir_all(&directory).expect("a folder for received mail");
        let mut last_error = String::new();
        for python in PYTHONS {
            match Self::spawn(python, &directory).await {
                Ok((child, port)) => {
                    return Self {
                        port,
                        directory,
                        child,
                    }
                }
                Err(error) => last_error = format!("{python}: {error}"),
            }
        }
        panic!(
            "no SMTP server for the test ({last_error}); install Debian's python3-aiosmtpd \
             (scripts/deps.sh does) or `pip install aiosmtpd`"
        );
    }

    async fn spawn(python: &str, directory: &Path) -> Result<(Child, u16), String> {
        let mut child = Command::new(python)
            .arg(SCRIPT)
            .arg(directory)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        let read = tokio::time::timeout(
            Duration::from_secs(20),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await;
        match read {
            Ok(Ok(_)) => match line.trim().parse::<u16>() {
                Ok(port) => Ok((child, port)),
                Err(_) => {
                    let _ = child.kill().await;
                    let output = child.wait_with_output().await.map_err(|e| e.to_string())?;
                    Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
                }
            },
            _ => {
                let _ = child.kill().await;
                Err("the server did not say its port in time".to_owned())
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:PORT`: plain SMTP, as `SMTP_URL` names it.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, in the order received.
    pub fn received(&self) -> Vec<ReceivedMail> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.directory)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files.iter().filter_map(|p| ReceivedMail::read(p)).collect()
    }

    /// The messages received for `address` so far.
    pub fn received_by(&self, address: &str) -> Vec<ReceivedMail> {
        self.received()
            .into_iter()
            .filter(|m| m.to.iter().any(|to| to.eq_ignore_ascii_case(address)))
            .collect()
    }

    /// Waits until `address` has received `count` messages (polling, with a deadline) and
    /// returns them; panics with what arrived when it does not happen in `timeout`.
    pub async fn wait_for(
        &self,
        address: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<ReceivedMail> {
        crate::wait_for(timeout, &format!("{count} mails to {address}"), || async {
            let received = self.received_by(address);
            if received.len() >= count {
                Ok(received)
            } else {
                Err(format!(
                    "{} arrived: {:?}",
                    received.len(),
                    received.iter().map(|m| &m.subject).collect::<Vec<_>>()
                ))
            }
        })
        .await
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        // Closing its standard input ends the server; kill_on_drop makes sure.
        drop(self.child.stdin.take());
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}
