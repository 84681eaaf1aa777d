//! The body Bayzat's attendance API takes, and the order its records are sent in.

use std::num::NonZeroUsize;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::BayzatEmpId;
use crate::punch::{LocalPunchTime, PunchType};

/// Bayzat's limit on records in one request (`BAYZAT_MAX_RECORDS_PER_REQUEST`'s default).
/// More is a 400 for the whole request.
pub const MAX_RECORDS_PER_REQUEST: NonZeroUsize = match NonZeroUsize::new(20) {
    Some(n) => n,
    None => unreachable!(),
};

/// One punch as Bayzat receives it:
/// `{"empId": "123", "type": "checkIn", "time": "2023-04-30 09:00:00"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct BayzatRecord {
    #[serde(rename = "empId")]
    pub emp_id: BayzatEmpId,
    #[serde(rename = "type")]
    pub punch_type: PunchType,
    pub time: LocalPunchTime,
}

/// The body of `POST {api_url}`: `{"records": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct BayzatRequest {
    pub records: Vec<BayzatRecord>,
}

impl BayzatRequest {
    /// The connection test's body: Bayzat checks the key without a punch being created.
    pub fn empty() -> Self {
        Self::default()
    }
}

/// Anything sent as a Bayzat record (a delivery, a ready punch): the time and empId requests are
/// ordered by (time, then empId), whatever else the item carries.
pub trait TimeOrdered {
    fn punch_time(&self) -> LocalPunchTime;
    fn bayzat_emp_id(&self) -> &BayzatEmpId;
}

impl TimeOrdered for BayzatRecord {
    fn punch_time(&self) -> LocalPunchTime {
        self.time
    }

    fn bayzat_emp_id(&self) -> &BayzatEmpId {
        &self.emp_id
    }
}

/// How a request Bayzat refused with 400 is resent: as its two halves (the first half one larger
/// when odd), until every bad record stands alone. `None` for a lone record or none: there is
/// nothing left to split, and the refusal belongs to that record.
pub fn split_refused<T>(mut items: Vec<T>) -> Option<(Vec<T>, Vec<T>)> {
    if items.len() < 2 {
        return None;
    }
    let second = items.split_off(items.len().div_ceil(2));
    Some((items, second))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(emp_id: &str, punch_type: PunchType, time: &str) -> BayzatRecord {
        BayzatRecord {
            emp_id: BayzatEmpId::new(emp_id).unwrap(),
            punch_type,
            time: time.parse().unwrap(),
        }
    }

    #[test]
    fn record_json_is_exactly_bayzats() {
        let cases = [
            (
                record("123", PunchType::CheckIn, "2023-04-30 09:00:00"),
                r#"{"empId":"123","type":"checkIn","time":"2023-04-30 09:00:00"}"#,
            ),
            (
                record("0042", PunchType::CheckOut, "2023-04-30 17:00:00"),
                r#"{"empId":"0042","type":"checkOut","time":"2023-04-30 17:00:00"}"#,
            ),
        ];
        for (value, json) in cases {
            assert_eq!(serde_json::to_string(&value).unwrap(), json);
            assert_eq!(serde_json::from_str::<BayzatRecord>(json).unwrap(), value);
        }
    }

    #[test]
    fn request_json_is_exactly_bayzats() {
        let request = BayzatRequest {
            records: vec![
                record("123", PunchType::CheckIn, "2023-04-30 09:00:00"),
                record("123", PunchType::CheckOut, "2023-04-30 17:00:00"),
            ],
        };
        let json = r#"{"records":[{"empId":"123","type":"checkIn","time":"2023-04-30 09:00:00"},{"empId":"123","type":"checkOut","time":"2023-04-30 17:00:00"}]}"#;
        assert_eq!(serde_json::to_string(&request).unwrap(), json);
        assert_eq!(
            serde_json::from_str::<BayzatRequest>(json).unwrap(),
            request
        );
        assert_eq!(
            serde_json::to_string(&BayzatRequest::empty()).unwrap(),
            r#"{"records":[]}"#
        );
    }

    #[test]
    fn malformed_records_are_refused() {
        let cases = [
            r#"{"empId":"123","type":"checkin","time":"2023-04-30 09:00:00"}"#,
            r#"{"empId":"123","type":"checkIn","time":"2023-04-30T09:00:00"}"#,
            r#"{"empId":"","type":"checkIn","time":"2023-04-30 09:00:00"}"#,
            r#"{"empId":123,"type":"checkIn","time":"2023-04-30 09:00:00"}"#,
            r#"{"emp_id":"123","type":"checkIn","time":"2023-04-30 09:00:00"}"#,
            r#"{"empId":"123","time":"2023-04-30 09:00:00"}"#,
        ];
        for json in cases {
            assert!(
                serde_json::from_str::<BayzatRecord>(json).is_err(),
                "{json}"
            );
        }
    }

    #[test]
    fn refused_requests_split_in_halves_down_to_single_records() {
        let cases: &[(usize, Option<(usize, usize)>)] = &[
            (0, None),
            (1, None),
            (2, Some((1, 1))),
            (3, Some((2, 1))),
            (20, Some((10, 10))),
            (21, Some((11, 10))),
        ];
        for &(len, expected) in cases {
            let items: Vec<usize> = (0..len).collect();
            let halves = split_refused(items);
            assert_eq!(
                halves.as_ref().map(|(a, b)| (a.len(), b.len())),
                expected,
                "{len}"
            );
            if let Some((a, b)) = halves {
                let rejoined: Vec<usize> = a.into_iter().chain(b).collect();
                assert_eq!(rejoined, (0..len).collect::<Vec<_>>());
            }
        }
    }
}
