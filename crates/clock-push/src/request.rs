//! What a terminal is asking, from the request line alone, and the request lines a terminal
//! builds.
//!
//! A push terminal makes four kinds of request, all under `/iclock/`:
//!
//! | request                                           | meaning                               |
//! |---------------------------------------------------|---------------------------------------|
//! | `GET /iclock/cdata?SN=…&options=all&pushver=…`    | handshake: asks for its options       |
//! | `POST /iclock/cdata?SN=…&table=ATTLOG&Stamp=…`    | upload of table rows in the body      |
//! | `GET /iclock/getrequest?SN=…&INFO=…`              | heartbeat, asks for queued commands   |
//! | `POST /iclock/devicecmd?SN=…`                     | results of commands it ran            |
//!
//! Some firmware appends `.aspx` to the path (`/iclock/cdata.aspx`) and spells query keys in
//! other cases (`sn=`); both are accepted.

use std::fmt;

use crate::query::{encode_component, get, parse_query};
use crate::serial::{SerialError, SerialNumber};

/// The path prefix every push request shares.
pub const ICLOCK_PREFIX: &str = "/iclock/";

/// A table a terminal uploads rows of (`table=` on `POST /iclock/cdata`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Table {
    /// Attendance punches, the one this bridge reads.
    AttLog,
    /// Operation log (enrolments, menu access, alarms).
    OperLog,
    /// User records.
    UserInfo,
    /// Photos taken at a punch.
    AttPhoto,
    /// Biometric templates (newer firmware).
    BioData,
    /// Any other table name, upper-cased.
    Other(String),
}

impl Table {
    /// Table names are matched without regard to case.
    pub fn parse(name: &str) -> Self {
        let upper = name.trim().to_ascii_uppercase();
        match upper.as_str() {
            "ATTLOG" => Table::AttLog,
            "OPERLOG" => Table::OperLog,
            "USERINFO" => Table::UserInfo,
            "ATTPHOTO" => Table::AttPhoto,
            "BIODATA" => Table::BioData,
            _ => Table::Other(upper),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Table::AttLog => "ATTLOG",
            Table::OperLog => "OPERLOG",
            Table::UserInfo => "USERINFO",
            Table::AttPhoto => "ATTPHOTO",
            Table::BioData => "BIODATA",
            Table::Other(name) => name,
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A terminal's request, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalRequest {
    /// `GET /iclock/cdata`: the terminal starts up (or reconnects) and wants its options.
    /// `options` is normally `all`; `push_version` is the firmware's protocol version
    /// (`pushver=`), when sent.
    Handshake {
        serial: SerialNumber,
        options: Option<String>,
        push_version: Option<String>,
    },
    /// `POST /iclock/cdata`: rows of `table` in the body. `stamp` is the terminal's position in
    /// that table (`Stamp=`), informational only.
    Upload {
        serial: SerialNumber,
        table: Table,
        stamp: Option<String>,
    },
    /// `GET /iclock/getrequest`: heartbeat and command poll; `info` is the terminal's status line
    /// (`INFO=` firmware version, user count, …), sent now and then.
    Poll {
        serial: SerialNumber,
        info: Option<String>,
    },
    /// `POST /iclock/devicecmd`: the body holds results of commands (see
    /// [`crate::reply::parse_command_results`]).
    CommandResult { serial: SerialNumber },
}

impl TerminalRequest {
    pub fn serial(&self) -> &SerialNumber {
        match self {
            TerminalRequest::Handshake { serial, .. }
            | TerminalRequest::Upload { serial, .. }
            | TerminalRequest::Poll { serial, .. }
            | TerminalRequest::CommandResult { serial } => serial,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("{path} is not a push protocol path")]
    UnknownPath { path: String },
    #[error("{method} is not a method push terminals use on {path}")]
    MethodNotAllowed { method: String, path: String },
    #[error("the request has no serial number (SN=)")]
    MissingSerial,
    #[error("bad serial number: {0}")]
    InvalidSerial(#[from] SerialError),
    #[error("the upload names no table (table=)")]
    MissingTable,
}

#[derive(Clone, Copy)]
enum Endpoint {
    Cdata,
    GetRequest,
    DeviceCmd,
}

fn endpoint(path: &str) -> Option<Endpoint> {
    let rest = path.strip_prefix(ICLOCK_PREFIX)?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let rest = rest.strip_suffix(".aspx").unwrap_or(rest);
    match rest {
        "cdata" => Some(Endpoint::Cdata),
        "getrequest" => Some(Endpoint::GetRequest),
        "devicecmd" => Some(Endpoint::DeviceCmd),
        _ => None,
    }
}

/// Classifies a request from its method (`GET`, `POST`, any case), its path (no query) and its
/// query string (with or without the leading `?`).
pub fn classify(method: &str, path: &str, query: &str) -> Result<TerminalRequest, RequestError> {
    let endpoint = endpoint(path).ok_or_else(|| RequestError::UnknownPath {
        path: path.to_owned(),
    })?;
    let is_get = method.eq_ignore_ascii_case("GET");
    let is_post = method.eq_ignore_ascii_case("POST");
    let not_allowed = || RequestError::MethodNotAllowed {
        method: method.to_owned(),
        path: path.to_owned(),
    };
    match endpoint {
        Endpoint::Cdata if !(is_get || is_post) => return Err(not_allowed()),
        Endpoint::GetRequest if !is_get => return Err(not_allowed()),
        Endpoint::DeviceCmd if !is_post => return Err(not_allowed()),
        _ => {}
    }

    let pairs = parse_query(query);
    let serial = match get(&pairs, "SN") {
        None | Some("") => return Err(RequestError::MissingSerial),
        Some(sn) => SerialNumber::parse(sn)?,
    };
    let opt = |key: &str| get(&pairs, key).map(str::to_owned);
    Ok(match endpoint {
        Endpoint::Cdata if is_get => TerminalRequest::Handshake {
            serial,
            options: opt("options"),
            push_version: opt("pushver"),
        },
        Endpoint::Cdata => {
            let table = match get(&pairs, "table") {
                None => return Err(RequestError::MissingTable),
                Some(t) if t.trim().is_empty() => return Err(RequestError::MissingTable),
                Some(t) => Table::parse(t),
            };
            TerminalRequest::Upload {
                serial,
                table,
                stamp: opt("Stamp"),
            }
        }
        Endpoint::GetRequest => TerminalRequest::Poll {
            serial,
            info: opt("INFO"),
        },
        Endpoint::DeviceCmd => TerminalRequest::CommandResult { serial },
    })
}

/// `/iclock/cdata?SN=…&options=all&pushver=…`: the handshake a terminal makes on start.
pub fn handshake_path(serial: &SerialNumber, push_version: &str) -> String {
    format!(
        "{ICLOCK_PREFIX}cdata?SN={serial}&options=all&pushver={}",
        encode_component(push_version)
    )
}

/// `/iclock/cdata?SN=…&table=…&Stamp=…`: where a terminal posts rows of `table`.
pub fn upload_path(serial: &SerialNumber, table: &Table, stamp: &str) -> String {
    format!(
        "{ICLOCK_PREFIX}cdata?SN={serial}&table={}&Stamp={}",
        encode_component(table.as_str()),
        encode_component(stamp)
    )
}

/// `/iclock/getrequest?SN=…[&INFO=…]`: the heartbeat.
pub fn poll_path(serial: &SerialNumber, info: Option<&str>) -> String {
    match info {
        Some(info) => format!(
            "{ICLOCK_PREFIX}getrequest?SN={serial}&INFO={}",
            encode_component(info)
        ),
        None => format!("{ICLOCK_PREFIX}getrequest?SN={serial}"),
    }
}

/// `/iclock/devicecmd?SN=…`: where a terminal posts command results.
pub fn command_result_path(serial: &SerialNumber) -> String {
    format!("{ICLOCK_PREFIX}devicecmd?SN={serial}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sn(s: &str) -> SerialNumber {
        SerialNumber::parse(s).unwrap()
    }

    fn split(path_and_query: &str) -> (&str, &str) {
        path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""))
    }

    #[test]
    fn handshake() {
        let r = classify(
            "GET",
            "/iclock/cdata",
            "SN=AEVL201160168&options=all&pushver=2.4.1&language=69",
        )
        .unwrap();
        assert_eq!(
            r,
            TerminalRequest::Handshake {
                serial: sn("AEVL201160168"),
                options: Some("all".into()),
                push_version: Some("2.4.1".into()),
            }
        );
        // Older firmware sends neither options nor pushver, and some spell sn in lower case.
        let r = classify("get", "/iclock/cdata.aspx", "sn=X1").unwrap();
        assert_eq!(
            r,
            TerminalRequest::Handshake {
                serial: sn("X1"),
                options: None,
                push_version: None,
            }
        );
    }

    #[test]
    fn uploads_of_every_table() {
        for (name, table) in [
            ("ATTLOG", Table::AttLog),
            ("attlog", Table::AttLog),
            ("OPERLOG", Table::OperLog),
            ("USERINFO", Table::UserInfo),
            ("ATTPHOTO", Table::AttPhoto),
            ("BIODATA", Table::BioData),
            ("options", Table::Other("OPTIONS".into())),
        ] {
            let r = classify(
                "POST",
                "/iclock/cdata",
                &format!("SN=S1&table={name}&Stamp=9999"),
            )
            .unwrap();
            assert_eq!(
                r,
                TerminalRequest::Upload {
                    serial: sn("S1"),
                    table,
                    stamp: Some("9999".into()),
                }
            );
        }
        assert_eq!(
            classify("POST", "/iclock/cdata", "SN=S1&Stamp=1"),
            Err(RequestError::MissingTable)
        );
        assert_eq!(
            classify("POST", "/iclock/cdata", "SN=S1&table="),
            Err(RequestError::MissingTable)
        );
    }

    #[test]
    fn polls_and_command_results() {
        assert_eq!(
            classify(
                "GET",
                "/iclock/getrequest",
                "SN=S1&INFO=Ver%206.60%2C10%2C0%2C120%2C192.168.1.201"
            )
            .unwrap(),
            TerminalRequest::Poll {
                serial: sn("S1"),
                info: Some("Ver 6.60,10,0,120,192.168.1.201".into()),
            }
        );
        assert_eq!(
            classify("GET", "/iclock/getrequest.aspx", "?SN=S1").unwrap(),
            TerminalRequest::Poll {
                serial: sn("S1"),
                info: None
            }
        );
        assert_eq!(
            classify("POST", "/iclock/devicecmd", "SN=S1").unwrap(),
            TerminalRequest::CommandResult { serial: sn("S1") }
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            classify("GET", "/iclock/cdata", "options=all"),
            Err(RequestError::MissingSerial)
        );
        assert_eq!(
            classify("GET", "/iclock/cdata", "SN=&options=all"),
            Err(RequestError::MissingSerial)
        );
        assert!(matches!(
            classify("GET", "/iclock/cdata", "SN=A%20B"),
            Err(RequestError::InvalidSerial(SerialError::BadCharacters(_)))
        ));
        assert_eq!(
            classify("GET", "/iclock/unknown", "SN=S1"),
            Err(RequestError::UnknownPath {
                path: "/iclock/unknown".into()
            })
        );
        assert!(matches!(
            classify("GET", "/cdata", "SN=S1"),
            Err(RequestError::UnknownPath { .. })
        ));
        for (method, path) in [
            ("POST", "/iclock/getrequest"),
            ("GET", "/iclock/devicecmd"),
            ("PUT", "/iclock/cdata"),
        ] {
            assert!(
                matches!(
                    classify(method, path, "SN=S1"),
                    Err(RequestError::MethodNotAllowed { .. })
                ),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn built_paths_classify_as_what_they_are() {
        let s = sn("CL9M205160564");
        let built = handshake_path(&s, "2.4.1");
        let (p, q) = split(&built);
        assert_eq!(
            classify("GET", p, q).unwrap(),
            TerminalRequest::Handshake {
                serial: s.clone(),
                options: Some("all".into()),
                push_version: Some("2.4.1".into()),
            }
        );
        let built = upload_path(&s, &Table::AttLog, "1700000000");
        let (p, q) = split(&built);
        assert_eq!(
            classify("POST", p, q).unwrap(),
            TerminalRequest::Upload {
                serial: s.clone(),
                table: Table::AttLog,
                stamp: Some("1700000000".into()),
            }
        );
        let built = poll_path(&s, Some("Ver 8.0,3,12"));
        let (p, q) = split(&built);
        assert_eq!(
            classify("GET", p, q).unwrap(),
            TerminalRequest::Poll {
                serial: s.clone(),
                info: Some("Ver 8.0,3,12".into()),
            }
        );
        let built = command_result_path(&s);
        let (p, q) = split(&built);
        let r = classify("POST", p, q).unwrap();
        assert_eq!(r.serial(), &s);
    }
}
