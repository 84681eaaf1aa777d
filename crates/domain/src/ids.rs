//! Identifiers. Each is its own type so that a company id can never be passed where an import id
//! is expected, and so that the clock's employee id and the id Bayzat knows stay apart.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

/// Why text could not be read as an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} is empty")]
    Empty { kind: &'static str },
    #[error("{kind} {input:?} is not a whole number")]
    NotANumber { kind: &'static str, input: String },
    #[error("{kind} {input:?} is not a UUID")]
    NotAUuid { kind: &'static str, input: String },
}

macro_rules! integer_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            pub const fn new(value: i64) -> Self {
                Self(value)
            }

            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse::<i64>().map(Self).map_err(|_| IdError::NotANumber {
                    kind: $kind,
                    input: s.to_owned(),
                })
            }
        }

        impl From<i64> for $name {
            fn from(value: i64) -> Self {
                Self(value)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

integer_id!(
    /// A company (config-service's `companies.id`). One company has one Bayzat account.
    CompanyId,
    "company id"
);
integer_id!(
    /// An uploaded report (import-service's `imports.id`).
    ImportId,
    "import id"
);
integer_id!(
    /// One punch to deliver (import-service's `punches.id`); consumers use it as an idempotency key.
    PunchId,
    "punch id"
);

/// A batch of punches handed to sync-service together (one per company per import, or per manual
/// or scheduled sync).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct BatchId(pub Uuid);

impl BatchId {
    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl FromStr for BatchId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self).map_err(|_| IdError::NotAUuid {
            kind: "batch id",
            input: s.to_owned(),
        })
    }
}

impl From<Uuid> for BatchId {
    fn from(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

impl From<BatchId> for Uuid {
    fn from(id: BatchId) -> Self {
        id.0
    }
}

/// Trimmed and non-empty: reports pad ids with spaces, and the same employee must match however
/// the clock padded the id. Deserializing applies the same rule, so no message can smuggle in an
/// untrimmed id.
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $description:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Trims surrounding whitespace; an id that is empty after trimming is refused.
            pub fn new(raw: impl AsRef<str>) -> Result<Self, IdError> {
                let trimmed = raw.as_ref().trim();
                if trimmed.is_empty() {
                    return Err(IdError::Empty { kind: $kind });
                }
                Ok(Self(trimmed.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::new(raw).map_err(serde::de::Error::custom)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn schema_id() -> Cow<'static, str> {
                concat!("domain::", stringify!($name)).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "minLength": 1,
                    "description": $description,
                })
            }
        }
    };
}

text_id!(
    /// The employee's id on the fingerprint clock. Unique within a company only: two companies may
    /// use the same id.
    EmployeeId,
    "employee id",
    "The employee's id on the fingerprint clock, trimmed. Unique within a company only."
);

text_id!(
    /// The id Bayzat knows the employee by (`empId`): the directory's bayzat_emp_id, else its
    /// employee id. Kept exactly as the directory has it, leading zeros included.
    BayzatEmpId,
    "Bayzat employee id",
    "The employee's id as Bayzat knows it (empId), trimmed, leading zeros kept."
);

impl EmployeeId {
    /// The key under which "0042" and "42" are the same employee: the digits without leading
    /// zeros, or `None` when the id is not all digits. Clocks and spreadsheets drop or add leading
    /// zeros, so a numeric id that has no exact match is looked up by this key.
    pub fn numeric_key(&self) -> Option<&str> {
        if !self.0.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let stripped = self.0.trim_start_matches('0');
        Some(if stripped.is_empty() { "0" } else { stripped })
    }
}

impl BayzatEmpId {
    /// The id sent to Bayzat for an employee: the directory's Bayzat id when it has one, else the
    /// clock's id unchanged.
    pub fn for_employee(employee_id: &EmployeeId, bayzat_emp_id: Option<&BayzatEmpId>) -> Self {
        match bayzat_emp_id {
            Some(id) => id.clone(),
            None => Self(employee_id.0.clone()),
        }
    }
}

impl From<&EmployeeId> for BayzatEmpId {
    fn from(employee_id: &EmployeeId) -> Self {
        Self(employee_id.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_ids_serialize_as_bare_numbers() {
        assert_eq!(serde_json::to_string(&CompanyId(7)).unwrap(), "7");
        assert_eq!(serde_json::to_string(&ImportId(12)).unwrap(), "12");
        assert_eq!(serde_json::to_string(&PunchId(-3)).unwrap(), "-3");
        assert_eq!(serde_json::from_str::<PunchId>("42").unwrap(), PunchId(42));
        assert!(serde_json::from_str::<CompanyId>("\"7\"").is_err());
    }

    #[test]
    fn integer_ids_parse_and_display() {
        let cases: &[(&str, Option<i64>)] = &[
            ("7", Some(7)),
            ("0", Some(0)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-1", Some(-1)),
            ("", None),
            (" 7", None),
            ("7a", None),
            ("1.0", None),
            ("9223372036854775808", None),
        ];
        for (input, expected) in cases {
            let parsed = input.parse::<CompanyId>();
            match expected {
                Some(value) => {
                    let id = parsed.unwrap_or_else(|e| panic!("{input:?}: {e}"));
                    assert_eq!(id.get(), *value, "{input:?}");
                    assert_eq!(id.to_string(), *input);
                }
                None => assert_eq!(
                    parsed,
                    Err(IdError::NotANumber {
                        kind: "company id",
                        input: (*input).to_owned()
                    }),
                    "{input:?}"
                ),
            }
        }
        assert_eq!(
            "x".parse::<ImportId>().unwrap_err().to_string(),
            "import id \"x\" is not a whole number"
        );
    }

    #[test]
    fn batch_id_round_trips_as_hyphenated_uuid() {
        let text = "0190f5b2-4c4e-7a3b-9d2e-1f2a3b4c5d6e";
        let id: BatchId = text.parse().unwrap();
        assert_eq!(id.to_string(), text);
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{text}\""));
        assert_eq!(
            serde_json::from_str::<BatchId>(&format!("\"{text}\"")).unwrap(),
            id
        );
        assert_eq!(
            "not-a-uuid".parse::<BatchId>().unwrap_err().to_string(),
            "batch id \"not-a-uuid\" is not a UUID"
        );
    }

    #[test]
    fn text_ids_are_trimmed_and_never_empty() {
        let cases: &[(&str, Option<&str>)] = &[
            ("42", Some("42")),
            ("  42 ", Some("42")),
            ("\t0042\r\n", Some("0042")),
            ("A 12", Some("A 12")),
            ("", None),
            ("   ", None),
            ("\t", None),
        ];
        for (raw, expected) in cases {
            let employee = EmployeeId::new(raw);
            let bayzat = BayzatEmpId::new(raw);
            match expected {
                Some(id) => {
                    assert_eq!(employee.unwrap().as_str(), *id, "{raw:?}");
                    assert_eq!(bayzat.unwrap().as_str(), *id, "{raw:?}");
                }
                None => {
                    assert_eq!(
                        employee,
                        Err(IdError::Empty {
                            kind: "employee id"
                        })
                    );
                    assert_eq!(
                        bayzat,
                        Err(IdError::Empty {
                            kind: "Bayzat employee id"
                        })
                    );
                }
            }
        }
    }

    #[test]
    fn text_ids_deserialize_with_the_same_rule() {
        assert_eq!(
            serde_json::from_str::<EmployeeId>("\" 0042 \"").unwrap(),
            EmployeeId::new("0042").unwrap()
        );
        assert_eq!(
            serde_json::to_string(&BayzatEmpId::new("007").unwrap()).unwrap(),
            "\"007\""
        );
        let err = serde_json::from_str::<BayzatEmpId>("\"  \"").unwrap_err();
        assert!(
            err.to_string().contains("Bayzat employee id is empty"),
            "{err}"
        );
        assert!(serde_json::from_str::<EmployeeId>("42").is_err());
    }

    #[test]
    fn numeric_key_ignores_leading_zeros_of_numbers_only() {
        let cases: &[(&str, Option<&str>)] = &[
            ("42", Some("42")),
            ("0042", Some("42")),
            ("0", Some("0")),
            ("000", Some("0")),
            ("100", Some("100")),
            ("A042", None),
            ("42A", None),
            ("4 2", None),
            ("-42", None),
            ("٤٢", None),
        ];
        for (raw, expected) in cases {
            let id = EmployeeId::new(raw).unwrap();
            assert_eq!(id.numeric_key(), *expected, "{raw:?}");
        }
    }

    #[test]
    fn bayzat_id_defaults_to_the_clock_id() {
        let clock = EmployeeId::new("0042").unwrap();
        let directory = BayzatEmpId::new("E-42").unwrap();
        assert_eq!(
            BayzatEmpId::for_employee(&clock, Some(&directory)),
            directory
        );
        assert_eq!(BayzatEmpId::for_employee(&clock, None).as_str(), "0042");
        assert_eq!(BayzatEmpId::from(&clock).as_str(), "0042");
    }
}
