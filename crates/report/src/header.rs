//! Recognising the header row and mapping its columns.

use serde::{Deserialize, Serialize};

use crate::arabic::comparison_key;

/// A header needs at least this many recognised names, so a title row that happens to say
/// "Date" is not taken for it.
pub const MIN_RECOGNISED_NAMES: usize = 3;

/// Daily rows (a first and a last punch per employee per day) or transaction rows (one punch per
/// row, with a punch state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    Daily,
    Transactions,
}

/// Which column (0-based) holds what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Columns {
    pub employee_id: usize,
    /// First Name, else Name / Employee Name / Full Name.
    pub name: usize,
    /// Appended to `name` when the report splits first and last names.
    pub last_name: Option<usize>,
    pub department: usize,
    pub date: Option<usize>,
    pub weekday: Option<usize>,
    /// Candidates for the first punch, in priority order: the first non-empty one is used.
    pub first_punch: Vec<usize>,
    /// Candidates for the last punch, in priority order.
    pub last_punch: Vec<usize>,
    /// A time of day, read with `date` (transaction rows).
    pub time: Option<usize>,
    /// A date and time in one cell (transaction rows without a separate time column).
    pub datetime: Option<usize>,
    pub punch_state: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    EmployeeId,
    FirstName,
    LastName,
    Name,
    Department,
    Date,
    Weekday,
    FirstPunch,
    LastPunch,
    Time,
    DateTime,
    PunchState,
}

/// Header names as `comparison_key` gives them, in priority order within each role: the English
/// names first, then the Arabic ones.
const ALIASES: &[(Role, &[&str])] = &[
    (
        Role::EmployeeId,
        &[
            "employeeid",
            "empid",
            "empno",
            "employeeno",
            "acno",
            "personnelid",
            "personid",
            "userid",
            "pin",
            // رقم الموظف, الرقم الوظيفي, رقم البصمة
            "رقمالموظف",
            "الرقمالوظيفي",
            "رقمالبصمه",
        ],
    ),
    (Role::FirstName, &["firstname"]),
    (Role::LastName, &["lastname"]),
    (
        Role::Name,
        // الاسم, اسم الموظف
        &["name", "employeename", "fullname", "الاسم", "اسمالموظف"],
    ),
    (
        Role::Department,
        // القسم, الإدارة
        &["department", "dept", "departmentname", "القسم", "الاداره"],
    ),
    // التاريخ
    (
        Role::Date,
        &["date", "attdate", "attendancedate", "التاريخ"],
    ),
    // اليوم
    (Role::Weekday, &["weekday", "week", "day", "اليوم"]),
    (
        Role::FirstPunch,
        &[
            "checkin",
            "firstcheckin",
            "firstpunch",
            "clockin",
            "intime",
            "timein",
            // الحضور, وقت الحضور, دخول
            "الحضور",
            "وقتالحضور",
            "دخول",
        ],
    ),
    (
        Role::LastPunch,
        &[
            "checkout",
            "lastcheckout",
            "lastpunch",
            "clockout",
            "outtime",
            "timeout",
            // الانصراف, وقت الانصراف, خروج
            "الانصراف",
            "وقتالانصراف",
            "خروج",
        ],
    ),
    (Role::Time, &["time"]),
    (
        Role::DateTime,
        // وقت البصمة
        &["punchtime", "datetime", "punchdatetime", "وقتالبصمه"],
    ),
    (
        Role::PunchState,
        &[
            "punchstate",
            "state",
            "status",
            "attendancestate",
            "checktype",
            // الحالة
            "الحاله",
        ],
    ),
];

fn role_of(name: &str) -> Option<(Role, usize)> {
    let key = comparison_key(name);
    ALIASES.iter().find_map(|(role, names)| {
        names
            .iter()
            .position(|n| *n == key)
            .map(|priority| (*role, priority))
    })
}

/// How many cells of a candidate row are recognised header names.
pub(crate) fn recognised_names<'a>(cells: impl IntoIterator<Item = &'a str>) -> usize {
    cells
        .into_iter()
        .filter(|cell| role_of(cell).is_some())
        .count()
}

impl Role {
    /// Roles that name the same kind of column: a bilingual header may call one column "الاسم"
    /// in one row and "First Name" in the other.
    fn family(self) -> Role {
        match self {
            Role::FirstName | Role::LastName => Role::Name,
            Role::DateTime => Role::Time,
            role => role,
        }
    }
}

/// Whether `second`, the row right under the header row `first`, is the same header in another
/// language (Arabic labels above English ones, or the reverse): it is a header row itself, at
/// least `MIN_RECOGNISED_NAMES` of its names sit over columns the first row names alike, and none
/// names a column the first row names otherwise.
pub(crate) fn names_same_columns<S: AsRef<str>>(first: &[String], second: &[S]) -> bool {
    let mut agreeing = 0;
    for (a, b) in first.iter().zip(second) {
        match (role_of(a), role_of(b.as_ref())) {
            (Some((a, _)), Some((b, _))) if a.family() == b.family() => agreeing += 1,
            (Some(_), Some(_)) => return false,
            _ => {}
        }
    }
    agreeing >= MIN_RECOGNISED_NAMES
        && recognised_names(second.iter().map(AsRef::as_ref)) >= MIN_RECOGNISED_NAMES
}

/// The labels of a header given in two rows: per column the first row's label when it is a known
/// name or the second's is not, else the second's. Trimmed.
pub(crate) fn merge_header_rows<S: AsRef<str>>(first: &[String], second: &[S]) -> Vec<String> {
    let width = first.len().max(second.len());
    (0..width)
        .map(|i| {
            let a = first.get(i).map(String::as_str).unwrap_or("").trim();
            let b = second.get(i).map(AsRef::as_ref).unwrap_or("").trim();
            let use_second = (role_of(a).is_none() && role_of(b).is_some()) || a.is_empty();
            if use_second { b } else { a }.to_owned()
        })
        .collect()
}

/// Maps a header row. `Err` names the required columns it lacks.
pub(crate) fn map_columns<'a>(
    cells: impl IntoIterator<Item = &'a str>,
) -> Result<(Columns, ReportKind), Vec<String>> {
    let mut found: Vec<(Role, usize, usize)> = cells
        .into_iter()
        .enumerate()
        .filter_map(|(col, cell)| role_of(cell).map(|(role, priority)| (role, priority, col)))
        .collect();
    // Priority first, then the leftmost column of equal priority.
    found.sort_by_key(|&(_, priority, col)| (priority, col));
    let all = |role: Role| -> Vec<usize> {
        found
            .iter()
            .filter(|(r, _, _)| *r == role)
            .map(|&(_, _, col)| col)
            .collect()
    };
    let one = |role: Role| all(role).first().copied();

    let employee_id = one(Role::EmployeeId);
    let (name, last_name) = match (one(Role::FirstName), one(Role::Name), one(Role::LastName)) {
        (Some(first), _, last) => (Some(first), last),
        (None, Some(name), _) => (Some(name), None),
        (None, None, last) => (last, None),
    };
    let department = one(Role::Department);
    let date = one(Role::Date);
    let first_punch = all(Role::FirstPunch);
    let last_punch = all(Role::LastPunch);
    let time = one(Role::Time);
    let datetime = one(Role::DateTime);
    let punch_state = one(Role::PunchState);

    let transaction_time = (time.is_some() && date.is_some()) || datetime.is_some();
    let daily = date.is_some() && (!first_punch.is_empty() || !last_punch.is_empty());
    let transactions = punch_state.is_some() && transaction_time;

    let mut missing = Vec::new();
    if employee_id.is_none() {
        missing.push("employee id".to_owned());
    }
    if name.is_none() {
        missing.push("name".to_owned());
    }
    if department.is_none() {
        missing.push("department".to_owned());
    }
    let kind = if transactions {
        Some(ReportKind::Transactions)
    } else if daily {
        Some(ReportKind::Daily)
    } else {
        None
    };
    match kind {
        Some(_) => {}
        // A punch state or a lone time column says the report is meant as transactions.
        None if punch_state.is_some() || time.is_some() => {
            if !transaction_time {
                missing.push(if time.is_some() { "date" } else { "punch time" }.to_owned());
            }
            if punch_state.is_none() {
                missing.push("punch state".to_owned());
            }
        }
        None => {
            if date.is_none() {
                missing.push("date".to_owned());
            }
            if first_punch.is_empty() && last_punch.is_empty() {
                missing.push("check in or check out".to_owned());
            }
        }
    }
    match (employee_id, name, department, kind) {
        (Some(employee_id), Some(name), Some(department), Some(kind)) if missing.is_empty() => {
            Ok((
                Columns {
                    employee_id,
                    name,
                    last_name,
                    department,
                    date,
                    weekday: one(Role::Weekday),
                    first_punch,
                    last_punch,
                    time,
                    datetime,
                    punch_state,
                },
                kind,
            ))
        }
        _ => Err(missing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_aliases() {
        let cases: &[(&str, Role)] = &[
            ("Employee ID", Role::EmployeeId),
            ("Emp ID", Role::EmployeeId),
            ("Emp No.", Role::EmployeeId),
            ("Employee No.", Role::EmployeeId),
            ("AC-No.", Role::EmployeeId),
            ("Personnel ID", Role::EmployeeId),
            ("Person ID", Role::EmployeeId),
            ("User ID", Role::EmployeeId),
            ("PIN", Role::EmployeeId),
            ("EMPLOYEE_ID", Role::EmployeeId),
            ("First Name", Role::FirstName),
            ("Last Name", Role::LastName),
            ("Name", Role::Name),
            ("Employee Name", Role::Name),
            ("Full Name", Role::Name),
            ("Department", Role::Department),
            ("Dept", Role::Department),
            ("Dept.", Role::Department),
            ("Department Name", Role::Department),
            ("Date", Role::Date),
            ("Att Date", Role::Date),
            ("Attendance Date", Role::Date),
            ("Weekday", Role::Weekday),
            ("Week", Role::Weekday),
            ("Day", Role::Weekday),
            ("Check In", Role::FirstPunch),
            ("Check-In", Role::FirstPunch),
            ("First Check In", Role::FirstPunch),
            ("First Punch", Role::FirstPunch),
            ("Clock In", Role::FirstPunch),
            ("In Time", Role::FirstPunch),
            ("Time In", Role::FirstPunch),
            ("Check Out", Role::LastPunch),
            ("Check-Out", Role::LastPunch),
            ("Last Check Out", Role::LastPunch),
            ("Last Punch", Role::LastPunch),
            ("Clock Out", Role::LastPunch),
            ("Out Time", Role::LastPunch),
            ("Time Out", Role::LastPunch),
            ("Time", Role::Time),
            ("Punch Time", Role::DateTime),
            ("Date Time", Role::DateTime),
            ("Datetime", Role::DateTime),
            ("Punch Datetime", Role::DateTime),
            ("Punch State", Role::PunchState),
            ("State", Role::PunchState),
            ("Status", Role::PunchState),
            ("Attendance State", Role::PunchState),
            ("Check Type", Role::PunchState),
            ("  check in  ", Role::FirstPunch),
            ("رقم الموظف", Role::EmployeeId),
            ("الرقم الوظيفي", Role::EmployeeId),
            ("رقم البصمة", Role::EmployeeId),
            ("رقم البصمه", Role::EmployeeId),
            ("الاسم", Role::Name),
            ("الإسم", Role::Name),
            ("اسم الموظف", Role::Name),
            ("إسم الموظف", Role::Name),
            ("القسم", Role::Department),
            ("الإدارة", Role::Department),
            ("الادارة", Role::Department),
            ("التاريخ", Role::Date),
            ("اليوم", Role::Weekday),
            ("الحضور", Role::FirstPunch),
            ("وقت الحضور", Role::FirstPunch),
            ("دخول", Role::FirstPunch),
            ("الانصراف", Role::LastPunch),
            ("الإنصراف", Role::LastPunch),
            ("وقت الانصراف", Role::LastPunch),
            ("خروج", Role::LastPunch),
            ("وقت البصمة", Role::DateTime),
            ("الحالة", Role::PunchState),
            ("الحالـــة", Role::PunchState),
            (" الحالة: ", Role::PunchState),
        ];
        for (name, role) in cases {
            assert_eq!(role_of(name).map(|(r, _)| r), Some(*role), "{name:?}");
        }
        for name in [
            "Total Time",
            "Work Duration",
            "Employee",
            "",
            "Remarks",
            "c0",
        ] {
            assert_eq!(role_of(name), None, "{name:?}");
        }
    }

    #[test]
    fn aliases_are_written_as_compared() {
        for (_, names) in ALIASES {
            for name in *names {
                assert_eq!(comparison_key(name), *name);
            }
        }
    }

    fn cells(row: &str) -> Vec<String> {
        row.split(',').map(str::to_owned).collect()
    }

    #[test]
    fn a_header_in_two_languages() {
        let arabic = cells("رقم الموظف,الاسم,القسم,التاريخ,الحضور,ملاحظات");
        let cases = [
            (
                "Employee ID,First Name,Department,Date,Check In,Remarks",
                true,
            ),
            ("Emp No., Name ,Dept,Att Date,Clock In,", true),
            // Only two names agree.
            ("Employee ID,Name,Remarks,Notes,Other,", false),
            // A column named otherwise.
            ("Employee ID,Name,Department,Date,Check Out,Remarks", false),
            ("1001,Ahmed,AdvLine,2026-11-05,08:00,", false),
        ];
        for (second, same) in cases {
            assert_eq!(
                names_same_columns(&arabic, &cells(second)),
                same,
                "{second}"
            );
        }
        let first = cells("رقم الموظف,الاسم,الفرع,التاريخ,الحضور,");
        let second = cells("Employee ID,Name,Department,Date,Check In,Remarks,Extra");
        assert_eq!(
            merge_header_rows(&first, &second),
            [
                "رقم الموظف",
                "الاسم",
                "Department",
                "التاريخ",
                "الحضور",
                "Remarks",
                "Extra"
            ]
        );
    }

    fn map(header: &str) -> Result<(Columns, ReportKind), Vec<String>> {
        map_columns(header.split(','))
    }

    #[test]
    fn daily_columns_in_priority_order() {
        let (columns, kind) = map(
            "Employee ID,First Name,Department,Date,Weekday,Clock In,Check In,Check Out,Clock Out,Last Name",
        )
        .unwrap();
        assert_eq!(kind, ReportKind::Daily);
        assert_eq!(columns.employee_id, 0);
        assert_eq!(columns.name, 1);
        assert_eq!(columns.last_name, Some(9));
        assert_eq!(columns.department, 2);
        assert_eq!(columns.date, Some(3));
        assert_eq!(columns.weekday, Some(4));
        assert_eq!(columns.first_punch, [6, 5]);
        assert_eq!(columns.last_punch, [7, 8]);
    }

    #[test]
    fn transaction_columns() {
        let (columns, kind) = map("AC-No.,Name,Dept.,Date,Time,State").unwrap();
        assert_eq!(kind, ReportKind::Transactions);
        assert_eq!((columns.date, columns.time), (Some(3), Some(4)));
        assert_eq!(columns.punch_state, Some(5));
        let (columns, kind) =
            map("User ID,Full Name,Department Name,Punch Time,Punch State").unwrap();
        assert_eq!(kind, ReportKind::Transactions);
        assert_eq!((columns.date, columns.datetime), (None, Some(3)));
    }

    #[test]
    fn missing_columns_are_named() {
        let cases: &[(&str, &[&str])] = &[
            (
                "Employee ID,First Name,Date,Check In,Check Out",
                &["department"],
            ),
            ("Employee ID,Department,Date,Check In", &["name"]),
            ("First Name,Department,Date,Check Out", &["employee id"]),
            ("Employee ID,Name,Department,Check In", &["date"]),
            (
                "Employee ID,Name,Department,Date",
                &["check in or check out"],
            ),
            (
                "Employee ID,Name,Department,Date,Weekday",
                &["check in or check out"],
            ),
            ("Employee ID,Name,Department,Time,State", &["date"]),
            ("Employee ID,Name,Department,Date,State", &["punch time"]),
            ("Employee ID,Name,Department,Date,Time", &["punch state"]),
            (
                "Name,Date,Time",
                &["employee id", "department", "punch state"],
            ),
            (
                "Emp ID,Dept,Weekday",
                &["name", "date", "check in or check out"],
            ),
        ];
        for (header, missing) in cases {
            assert_eq!(map(header).unwrap_err(), *missing, "{header:?}");
        }
    }
}
