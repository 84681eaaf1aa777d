//! The identifiers a terminal sends: its serial number (`SN=` on every request) and the PIN of the
//! user who punched (the first ATTLOG field).

use std::fmt;
use std::str::FromStr;

/// Longest serial number accepted. Real ones are 13 to 20 characters (`AEVL201160168`); the
/// margin is for vendors' longer forms, the bound keeps a garbage query from becoming a key.
pub const MAX_SERIAL_CHARS: usize = 64;

/// Longest PIN accepted. Terminals store at most 24 characters (9 digits on older firmware).
pub const MAX_PIN_CHARS: usize = 24;

/// A terminal's serial number: 1 to [`MAX_SERIAL_CHARS`] ASCII letters, digits, `-`, `_` or `.`.
///
/// Kept exactly as sent (no case folding): the server identifies the terminal by it and the
/// handshake reply echoes it back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SerialNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SerialError {
    #[error("serial number is empty")]
    Empty,
    #[error("serial number is longer than {MAX_SERIAL_CHARS} characters")]
    TooLong,
    #[error(
        "serial number {0:?} has characters other than ASCII letters, digits, '-', '_' or '.'"
    )]
    BadCharacters(String),
}

impl SerialNumber {
    /// Validates `input` as sent, without trimming: a serial number with spaces is not one.
    pub fn parse(input: &str) -> Result<Self, SerialError> {
        if input.is_empty() {
            return Err(SerialError::Empty);
        }
        if input.chars().count() > MAX_SERIAL_CHARS {
            return Err(SerialError::TooLong);
        }
        if !input
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(SerialError::BadCharacters(input.to_owned()));
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SerialNumber {
    type Err = SerialError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for SerialNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The PIN (user number) a punch was made under: 1 to [`MAX_PIN_CHARS`] ASCII letters or digits.
///
/// Leading zeros are significant (`007` and `7` are different users on a terminal), so the PIN is
/// text, not a number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pin(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("PIN is empty")]
    Empty,
    #[error("PIN is longer than {MAX_PIN_CHARS} characters")]
    TooLong,
    #[error("PIN has characters other than ASCII letters and digits")]
    BadCharacters,
}

impl Pin {
    pub fn parse(input: &str) -> Result<Self, PinError> {
        if input.is_empty() {
            return Err(PinError::Empty);
        }
        if input.chars().count() > MAX_PIN_CHARS {
            return Err(PinError::TooLong);
        }
        if !input.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(PinError::BadCharacters);
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Pin {
    type Err = PinError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for Pin {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_serials_are_accepted() {
        for sn in ["AEVL201160168", "SPK7240100098", "CL9M205160564", "A-1_b.2"] {
            assert_eq!(SerialNumber::parse(sn).unwrap().as_str(), sn);
        }
    }

    #[test]
    fn bad_serials_are_refused() {
        assert_eq!(SerialNumber::parse(""), Err(SerialError::Empty));
        assert_eq!(
            SerialNumber::parse(&"A".repeat(MAX_SERIAL_CHARS + 1)),
            Err(SerialError::TooLong)
        );
        assert!(SerialNumber::parse(&"A".repeat(MAX_SERIAL_CHARS)).is_ok());
        for bad in [" AB12", "AB 12", "AB12\n", "جهاز", "AB;12", "AB%20"] {
            assert!(
                matches!(SerialNumber::parse(bad), Err(SerialError::BadCharacters(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn pins_keep_leading_zeros_and_refuse_the_rest() {
        assert_eq!(Pin::parse("007").unwrap().to_string(), "007");
        assert_eq!(Pin::parse("A12").unwrap().as_str(), "A12");
        assert_eq!(Pin::parse(""), Err(PinError::Empty));
        assert_eq!(Pin::parse(&"1".repeat(25)), Err(PinError::TooLong));
        assert_eq!(Pin::parse("١٢٣"), Err(PinError::BadCharacters));
        assert_eq!(Pin::parse("12 3"), Err(PinError::BadCharacters));
    }
}
