//! The body Bayzat's attendance API takes, and how punches are packed into requests.

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

/// Anything that is sent as a Bayzat record, so that the sender can pack its own delivery rows
/// (which carry punch ids) in the same order as bare records.
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

/// Sorts by time, then empId, keeping the given order among equals, and cuts into groups of
/// `max_per_request`: every group full except the last. Time order across employees is what
/// Bayzat's attendance view expects, and full requests are what make the per-key rate limit go
/// furthest. No items yields no groups, never an empty request.
pub fn pack_in_time_order<T: TimeOrdered>(
    mut items: Vec<T>,
    max_per_request: NonZeroUsize,
) -> Vec<Vec<T>> {
    items.sort_by(|a, b| {
        a.punch_time()
            .cmp(&b.punch_time())
            .then_with(|| a.bayzat_emp_id().cmp(b.bayzat_emp_id()))
    });
    let size = max_per_request.get();
    let mut groups = Vec::with_capacity(items.len().div_ceil(size));
    let mut rest = items.into_iter().peekable();
    while rest.peek().is_some() {
        groups.push(rest.by_ref().take(size).collect());
    }
    groups
}

/// [`pack_in_time_order`] for bare records.
pub fn pack_requests(
    records: Vec<BayzatRecord>,
    max_per_request: NonZeroUsize,
) -> Vec<BayzatRequest> {
    pack_in_time_order(records, max_per_request)
        .into_iter()
        .map(|records| BayzatRequest { records })
        .collect()
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

    fn n(value: usize) -> NonZeroUsize {
        NonZeroUsize::new(value).unwrap()
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

    /// Records for `count` punches, given in reverse time order so that packing has to sort.
    fn reversed_records(count: usize) -> Vec<BayzatRecord> {
        (0..count)
            .rev()
            .map(|i| {
                let time = format!("2023-04-30 {:02}:{:02}:00", 6 + i / 60, i % 60);
                record(&format!("E{}", i % 7), PunchType::CheckIn, &time)
            })
            .collect()
    }

    #[test]
    fn packing_sizes() {
        let cases: &[(usize, usize, &[usize])] = &[
            (0, 20, &[]),
            (1, 20, &[1]),
            (19, 20, &[19]),
            (20, 20, &[20]),
            (21, 20, &[20, 1]),
            (40, 20, &[20, 20]),
            (41, 20, &[20, 20, 1]),
            (5, 1, &[1, 1, 1, 1, 1]),
            (7, 3, &[3, 3, 1]),
        ];
        for &(count, max, expected) in cases {
            let requests = pack_requests(reversed_records(count), n(max));
            let sizes: Vec<usize> = requests.iter().map(|r| r.records.len()).collect();
            assert_eq!(sizes, expected, "{count} records, at most {max}");
            let flat: Vec<&BayzatRecord> = requests.iter().flat_map(|r| &r.records).collect();
            assert!(
                flat.windows(2).all(|w| w[0].time <= w[1].time),
                "{count} records are not in time order"
            );
        }
    }

    #[test]
    fn packing_orders_by_time_then_emp_id_and_is_stable() {
        let records = vec![
            record("B", PunchType::CheckOut, "2023-04-30 17:00:00"),
            record("B", PunchType::CheckIn, "2023-04-30 09:00:00"),
            record("A", PunchType::CheckOut, "2023-04-30 17:00:00"),
            record("10", PunchType::CheckIn, "2023-04-30 09:00:00"),
            record("A", PunchType::CheckIn, "2023-04-30 08:59:59"),
            // Same empId and time twice: Bayzat refuses it, but packing must not reorder them.
            record("C", PunchType::CheckOut, "2023-04-29 18:00:00"),
            record("C", PunchType::CheckIn, "2023-04-29 18:00:00"),
        ];
        let packed = pack_requests(records, n(3));
        let order: Vec<Vec<String>> = packed
            .iter()
            .map(|r| {
                r.records
                    .iter()
                    .map(|x| format!("{} {} {}", x.time, x.emp_id, x.punch_type))
                    .collect()
            })
            .collect();
        assert_eq!(
            order,
            [
                vec![
                    "2023-04-29 18:00:00 C checkOut",
                    "2023-04-29 18:00:00 C checkIn",
                    "2023-04-30 08:59:59 A checkIn",
                ],
                vec![
                    // empIds compare as text: "10" before "B".
                    "2023-04-30 09:00:00 10 checkIn",
                    "2023-04-30 09:00:00 B checkIn",
                    "2023-04-30 17:00:00 A checkOut",
                ],
                vec!["2023-04-30 17:00:00 B checkOut"],
            ]
        );
    }

    #[test]
    fn packing_keeps_items_attached_to_their_records() {
        struct Delivery {
            punch_id: i64,
            record: BayzatRecord,
        }
        impl TimeOrdered for Delivery {
            fn punch_time(&self) -> LocalPunchTime {
                self.record.time
            }
            fn bayzat_emp_id(&self) -> &BayzatEmpId {
                &self.record.emp_id
            }
        }
        let deliveries = vec![
            Delivery {
                punch_id: 1,
                record: record("1", PunchType::CheckOut, "2023-04-30 17:00:00"),
            },
            Delivery {
                punch_id: 2,
                record: record("1", PunchType::CheckIn, "2023-04-30 09:00:00"),
            },
        ];
        let packed = pack_in_time_order(deliveries, MAX_RECORDS_PER_REQUEST);
        let ids: Vec<i64> = packed[0].iter().map(|d| d.punch_id).collect();
        assert_eq!(ids, [2, 1]);
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
