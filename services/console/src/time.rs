//! Times as people read them: in the company's zone (or the console's, for what belongs to no
//! one company), with the zone's abbreviation so nobody guesses.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// A zone by IANA name; the console's default when the name is unknown.
pub fn zone(name: &str, fallback: Tz) -> Tz {
    name.parse().unwrap_or(fallback)
}

/// `2026-11-24 13:05 +04` for an RFC 3339 timestamp; empty when there is none.
pub fn local(value: &serde_json::Value, zone: Tz) -> String {
    value
        .as_str()
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|at| format_at(at.with_timezone(&Utc), zone))
        .unwrap_or_default()
}

pub fn format_at(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_instants_are_shown_in_the_companys_zone() {
        let at = serde_json::json!("2026-11-01T05:00:00Z");
        assert_eq!(local(&at, chrono_tz::Asia::Dubai), "2026-11-01 09:00 +04");
        assert_eq!(local(&at, chrono_tz::Asia::Riyadh), "2026-11-01 08:00 +03");
        assert_eq!(local(&serde_json::Value::Null, chrono_tz::Asia::Dubai), "");
        assert_eq!(zone("Nowhere/Else", chrono_tz::UTC), chrono_tz::UTC);
    }
}
