//! What the probe found, what to configure, and the exit code that sums it up.

use std::fmt::Write as _;

use serde::Serialize;

/// One thing bayzat-api.md leaves UNKNOWN (or the system assumes), checked against the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The answer to `{"records": []}`, which config-service's connection test sends.
    EmptyRecords,
    /// A wrong key is answered 401 or 403 (sync-service pauses the company on it).
    WrongKey,
    /// A request right after another is refused with 429, and how long Bayzat's window is.
    RateLimit,
    /// Which of `Retry-After-Ms` / `Retry-After` a 429 carries.
    RetryAfter,
    /// A resend after the wait sync-service takes after a 429 is answered.
    WaitAfter429,
    /// A request `BAYZAT_RATE_LIMIT_DELAY` + margin after the previous one is answered.
    Pace,
    /// Each key has its own rate limit.
    KeyScope,
    /// A punch Bayzat already holds is refused, and recognised as a duplicate.
    Duplicate,
    /// An unknown empId is refused, and not mistaken for a duplicate.
    UnknownEmployee,
}

impl Check {
    pub fn title(self) -> &'static str {
        match self {
            Check::EmptyRecords => "empty records",
            Check::WrongKey => "wrong key",
            Check::RateLimit => "rate limit",
            Check::RetryAfter => "Retry-After",
            Check::WaitAfter429 => "wait after a 429",
            Check::Pace => "pace",
            Check::KeyScope => "limit per key",
            Check::Duplicate => "duplicate",
            Check::UnknownEmployee => "unknown employee",
        }
    }
}

/// How an answer compares with what the system assumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// As the system assumes.
    Ok,
    /// Not what bayzat-api.md documents, but the system copes as it is configured.
    Differs,
    /// Not checked (missing input, or an earlier answer made it impossible); the detail says why.
    NotChecked,
    /// The system needs the configuration listed in the report.
    Configure,
    /// No configuration makes the system right: a code change is needed.
    Unsupported,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Differs => "differs",
            Status::NotChecked => "not checked",
            Status::Configure => "configure",
            Status::Unsupported => "unsupported",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: Check,
    pub status: Status,
    /// What was sent and what came back, and what that means for the system.
    pub detail: String,
}

/// A value to set before go-live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting {
    /// An environment variable, or a field of a config-service request.
    pub name: String,
    pub value: String,
    /// Where it is set.
    pub applies_to: String,
    pub why: String,
}

/// What the probe concludes about the service's contract as a whole, and its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractVerdict {
    /// The contract is as the system assumes (or differs only where it copes).
    Matches,
    /// Set what the report lists.
    NeedsConfiguration,
    /// The contract differs in a way no configuration covers.
    Unsupported,
    /// The probe could not talk to the service with this URL and key.
    NotProbed,
}

impl ContractVerdict {
    pub fn exit_code(self) -> u8 {
        match self {
            ContractVerdict::Matches => 0,
            ContractVerdict::NeedsConfiguration => 1,
            ContractVerdict::Unsupported => 3,
            ContractVerdict::NotProbed => 4,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ContractVerdict::Matches => "the contract is as the system assumes",
            ContractVerdict::NeedsConfiguration => "configuration needed before go-live",
            ContractVerdict::Unsupported => "the contract differs in a way no configuration covers",
            ContractVerdict::NotProbed => "the service could not be probed with this URL and key",
        }
    }
}

/// A punch the probe sent that Bayzat stored, or may have stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentPunch {
    #[serde(rename = "empId")]
    pub emp_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub time: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub api_url: String,
    /// The assumptions judged, as `NAME=value`.
    pub assumptions: Vec<String>,
    pub findings: Vec<Finding>,
    pub configure: Vec<Setting>,
    /// Every HTTP request the probe made, 429s and the wrong key's included.
    pub requests: u32,
    /// Punches Bayzat answered as stored.
    pub punches_created: Vec<SentPunch>,
    /// Punches sent in a request that got no usable answer (5xx, timeout): they may be stored.
    pub punches_uncertain: Vec<SentPunch>,
    /// Why the probe stopped early, when it did.
    pub stopped: Option<String>,
    pub verdict: ContractVerdict,
}

impl Report {
    pub fn finding(&self, check: Check) -> Option<&Finding> {
        self.findings.iter().find(|f| f.check == check)
    }

    pub fn setting(&self, name: &str) -> Option<&Setting> {
        self.configure.iter().find(|s| s.name == name)
    }

    pub fn exit_code(&self) -> u8 {
        self.verdict.exit_code()
    }

    /// The verdict the findings add up to.
    pub(crate) fn verdict_of(findings: &[Finding], stopped: bool) -> ContractVerdict {
        if stopped {
            return ContractVerdict::NotProbed;
        }
        match findings.iter().map(|f| f.status).max() {
            Some(Status::Unsupported) => ContractVerdict::Unsupported,
            Some(Status::Configure) => ContractVerdict::NeedsConfiguration,
            _ => ContractVerdict::Matches,
        }
    }

    /// The report for a person: one line per finding, then what to set, then what was created.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Bayzat contract probe of {}", self.api_url);
        let _ = writeln!(out, "Judged against: {}", self.assumptions.join(", "));
        out.push('\n');
        for f in &self.findings {
            let _ = writeln!(
                out,
                "[{:<11}] {}: {}",
                f.status.label(),
                f.check.title(),
                f.detail
            );
        }
        if let Some(why) = &self.stopped {
            let _ = writeln!(out, "\nStopped: {why}");
        }
        if !self.configure.is_empty() {
            out.push_str("\nConfigure before go-live:\n");
            for s in &self.configure {
                let _ = writeln!(out, "  {}={}", s.name, shell_quote(&s.value));
                let _ = writeln!(out, "      ({}) {}", s.applies_to, s.why);
            }
        }
        let _ = writeln!(out, "\nRequests sent: {}.", self.requests);
        let _ = writeln!(
            out,
            "Punches created: {}{}",
            self.punches_created.len(),
            punch_list(&self.punches_created)
        );
        if !self.punches_uncertain.is_empty() {
            let _ = writeln!(
                out,
                "Punches that may have been created (no usable answer): {}{}",
                self.punches_uncertain.len(),
                punch_list(&self.punches_uncertain)
            );
        }
        let _ = writeln!(
            out,
            "Result: {} (exit {}).",
            self.verdict.describe(),
            self.exit_code()
        );
        out
    }
}

fn punch_list(punches: &[SentPunch]) -> String {
    if punches.is_empty() {
        return ".".to_owned();
    }
    let list: Vec<String> = punches
        .iter()
        .map(|p| format!("empId {} {} at {}", p.emp_id, p.kind, p.time))
        .collect();
    let them = if punches.len() == 1 { "it" } else { "them" };
    format!(
        " ({}). Remove {them} in the Bayzat sandbox if in the way.",
        list.join("; ")
    )
}

/// A value as a POSIX shell would take it back, so the line can be pasted into an env file.
pub fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:,".contains(c));
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(status: Status) -> Finding {
        Finding {
            check: Check::Pace,
            status,
            detail: String::new(),
        }
    }

    #[test]
    fn the_worst_finding_decides() {
        let cases: &[(&[Status], bool, ContractVerdict, u8)] = &[
            (&[], false, ContractVerdict::Matches, 0),
            (
                &[Status::Ok, Status::Differs, Status::NotChecked],
                false,
                ContractVerdict::Matches,
                0,
            ),
            (
                &[Status::Ok, Status::Configure, Status::NotChecked],
                false,
                ContractVerdict::NeedsConfiguration,
                1,
            ),
            (
                &[Status::Configure, Status::Unsupported, Status::Ok],
                false,
                ContractVerdict::Unsupported,
                3,
            ),
            (&[Status::Ok], true, ContractVerdict::NotProbed, 4),
        ];
        for (statuses, stopped, verdict, code) in cases {
            let findings: Vec<Finding> = statuses.iter().map(|s| finding(*s)).collect();
            let got = Report::verdict_of(&findings, *stopped);
            assert_eq!(got, *verdict, "{statuses:?}");
            assert_eq!(got.exit_code(), *code);
        }
    }

    #[test]
    fn values_are_quoted_for_a_shell() {
        let cases = [
            ("1.5", "1.5"),
            (
                "(?i)duplicate|already exists",
                "'(?i)duplicate|already exists'",
            ),
            ("it's", r"'it'\''s'"),
            ("", "''"),
        ];
        for (value, quoted) in cases {
            assert_eq!(shell_quote(value), quoted, "{value:?}");
        }
    }
}
