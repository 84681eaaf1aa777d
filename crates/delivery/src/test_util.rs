use chrono::{DateTime, Utc};
use domain::{BayzatEmpId, BayzatRecord, PunchId, PunchType};

use crate::packing::Delivery;

pub(crate) fn at(text: &str) -> DateTime<Utc> {
    text.parse()
        .unwrap_or_else(|e| panic!("{text:?} is not an RFC 3339 instant: {e}"))
}

pub(crate) fn emp(id: &str) -> BayzatEmpId {
    BayzatEmpId::new(id).unwrap()
}

/// A first-time delivery of a check-in at the given local time.
pub(crate) fn delivery(punch_id: i64, emp_id: &str, time: &str) -> Delivery {
    Delivery {
        punch_id: PunchId(punch_id),
        record: BayzatRecord {
            emp_id: emp(emp_id),
            punch_type: PunchType::CheckIn,
            time: time.parse().unwrap(),
        },
        attempts: 0,
    }
}
