//! Validating a row against the employee directory: which company, which employee, which
//! Bayzat id, and whether the date is plausible.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use domain::{normalize_report_name, EmployeeId};
use serde::{Deserialize, Serialize};

use crate::rows::{IssueCode, Punch, ReportRow, RowIssue};

/// Dates before this year are typing errors or a clock that lost its setting.
pub const EARLIEST_YEAR: i32 = 2000;

/// A company as the directory snapshot describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryCompany {
    pub id: i64,
    pub slug: String,
    /// IANA name, e.g. "Asia/Dubai".
    pub timezone: String,
    /// The department names fingerprint reports use for this company.
    pub report_names: Vec<String>,
    pub employees: Vec<DirectoryEmployee>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryEmployee {
    /// The id on the clock.
    pub employee_id: String,
    /// The id Bayzat knows the employee by, when it is not `employee_id`.
    pub bayzat_emp_id: Option<String>,
    pub active: bool,
}

/// Why a directory snapshot cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("company {slug}: time zone {timezone:?} is not an IANA time zone")]
    UnknownTimezone { slug: String, timezone: String },
    #[error("report name {name:?} belongs to both {first} and {second}")]
    SharedReportName {
        name: String,
        first: String,
        second: String,
    },
}

#[derive(Debug, Clone)]
struct Employee {
    employee_id: String,
    bayzat_emp_id: Option<String>,
    active: bool,
}

#[derive(Debug, Clone)]
struct Company {
    id: i64,
    slug: String,
    timezone: Tz,
    employees: Vec<Employee>,
    by_id: HashMap<String, usize>,
    by_numeric_key: HashMap<String, Vec<usize>>,
}

enum Lookup<'a> {
    Found(&'a Employee),
    Ambiguous(Vec<&'a str>),
    NotFound,
}

impl Company {
    /// Exact id first; "0042" and "42" are one employee only when no exact match exists.
    fn lookup(&self, id: &EmployeeId) -> Lookup<'_> {
        if let Some(&i) = self.by_id.get(id.as_str()) {
            return Lookup::Found(&self.employees[i]);
        }
        let Some(matches) = id
            .numeric_key()
            .and_then(|key| self.by_numeric_key.get(key))
        else {
            return Lookup::NotFound;
        };
        match matches.as_slice() {
            [i] => Lookup::Found(&self.employees[*i]),
            many => Lookup::Ambiguous(
                many.iter()
                    .map(|&i| self.employees[i].employee_id.as_str())
                    .collect(),
            ),
        }
    }
}

/// The directory as validation needs it: companies by report name, employees by id.
#[derive(Debug, Clone)]
pub struct Directory {
    companies: Vec<Company>,
    by_report_name: HashMap<String, usize>,
}

impl Directory {
    pub fn new(companies: Vec<DirectoryCompany>) -> Result<Self, DirectoryError> {
        let mut by_report_name: HashMap<String, usize> = HashMap::new();
        let mut built: Vec<Company> = Vec::with_capacity(companies.len());
        for (index, company) in companies.into_iter().enumerate() {
            let timezone: Tz =
                company
                    .timezone
                    .parse()
                    .map_err(|_| DirectoryError::UnknownTimezone {
                        slug: company.slug.clone(),
                        timezone: company.timezone.clone(),
                    })?;
            for name in &company.report_names {
                let key = normalize_report_name(name);
                if key.is_empty() {
                    continue;
                }
                if let Some(&other) = by_report_name.get(&key) {
                    if other != index {
                        return Err(DirectoryError::SharedReportName {
                            name: name.clone(),
                            first: built[other].slug.clone(),
                            second: company.slug.clone(),
                        });
                    }
                }
                by_report_name.insert(key, index);
            }
            let mut employees = Vec::new();
            let mut by_id = HashMap::new();
            let mut by_numeric_key: HashMap<String, Vec<usize>> = HashMap::new();
            for employee in company.employees {
                let Ok(id) = EmployeeId::new(&employee.employee_id) else {
                    continue;
                };
                let i = employees.len();
                by_id.insert(id.as_str().to_owned(), i);
                if let Some(key) = id.numeric_key() {
                    by_numeric_key.entry(key.to_owned()).or_default().push(i);
                }
                employees.push(Employee {
                    employee_id: id.into_string(),
                    bayzat_emp_id: employee
                        .bayzat_emp_id
                        .map(|b| b.trim().to_owned())
                        .filter(|b| !b.is_empty()),
                    active: employee.active,
                });
            }
            built.push(Company {
                id: company.id,
                slug: company.slug,
                timezone,
                employees,
                by_id,
                by_numeric_key,
            });
        }
        Ok(Self {
            companies: built,
            by_report_name,
        })
    }

    fn company_for_department(&self, department: &str) -> Option<&Company> {
        self.by_report_name
            .get(&normalize_report_name(department))
            .map(|&i| &self.companies[i])
    }

    /// Slugs of the companies other than `except`, within `scope`, whose directory has the id.
    fn companies_knowing(
        &self,
        id: &EmployeeId,
        except: Option<i64>,
        scope: Scope<'_>,
    ) -> Vec<&str> {
        self.companies
            .iter()
            .filter(|c| Some(c.id) != except && scope.covers(&c.slug))
            .filter(|c| !matches!(c.lookup(id), Lookup::NotFound))
            .map(|c| c.slug.as_str())
            .collect()
    }
}

/// What validation made of a row (its `outcome` in the API and the rows export).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidationOutcome {
    /// Punches derived and the employee known: ready to queue.
    Valid,
    /// At least one error; nothing is queued for it.
    Invalid,
    /// No punch in the row: an absence.
    Skipped,
}

impl ValidationOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            ValidationOutcome::Valid => "valid",
            ValidationOutcome::Invalid => "invalid",
            ValidationOutcome::Skipped => "skipped",
        }
    }
}

/// A row validated against the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowResult {
    pub outcome: ValidationOutcome,
    pub errors: Vec<RowIssue>,
    pub warnings: Vec<RowIssue>,
    /// The company the department names, when it names one.
    pub company_id: Option<i64>,
    pub company_slug: Option<String>,
    /// The id as the report has it (trimmed): the key for "unknown employees".
    pub report_employee_id: Option<String>,
    /// The employee's id as the directory has it ("42" for a report's "0042").
    pub employee_id: Option<String>,
    /// The id sent to Bayzat: the directory's bayzat_emp_id, else its employee_id.
    pub bayzat_emp_id: Option<String>,
    /// As in the report, trimmed.
    pub department: String,
    pub date: Option<NaiveDate>,
    /// Only for a valid row: what to queue.
    pub punches: Vec<Punch>,
}

/// The companies a validation may look at and name: every one, or only some (the companies of the
/// uploader's token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    All,
    Only(&'a [String]),
}

impl Scope<'_> {
    pub fn covers(self, slug: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Only(slugs) => slugs.iter().any(|s| s == slug),
        }
    }
}

/// Validates one row against the whole directory (see [`validate_within`]).
pub fn validate(row: &ReportRow, directory: &Directory, now: DateTime<Utc>) -> RowResult {
    validate_within(row, directory, now, Scope::All)
}

/// Validates one row against the companies of `scope`. A row whose department names a company
/// outside the scope is invalid with `company_not_permitted` and says nothing of that company: no
/// company, no employee, no punches; no message names a company outside the scope.
///
/// `now` is only used to refuse dates more than a day
/// ahead of the company's local date (UTC's for a row whose company is unknown).
///
/// A row with its own errors is invalid, and is still looked up so every problem is reported at
/// once. A row with no punches and no errors of its own is an absence: skipped, whatever the
/// directory says, since nothing would be sent for it.
pub fn validate_within(
    row: &ReportRow,
    directory: &Directory,
    now: DateTime<Utc>,
    scope: Scope<'_>,
) -> RowResult {
    let mut errors = row.errors.clone();
    let company = Some(row.department.as_str())
        .filter(|d| !d.is_empty())
        .and_then(|d| directory.company_for_department(d));
    if company.is_some_and(|c| !scope.covers(&c.slug)) {
        errors.push(RowIssue::new(
            IssueCode::CompanyNotPermitted,
            format!(
                "department {:?} is not one of the companies this token covers",
                row.department
            ),
        ));
        return RowResult {
            outcome: ValidationOutcome::Invalid,
            errors,
            warnings: row.warnings.clone(),
            company_id: None,
            company_slug: None,
            report_employee_id: row.employee_id.clone(),
            employee_id: None,
            bayzat_emp_id: None,
            department: row.department.clone(),
            date: row.date,
            punches: Vec::new(),
        };
    }

    if let Some(date) = row.date {
        let today = match company {
            Some(company) => now.with_timezone(&company.timezone).date_naive(),
            None => now.date_naive(),
        };
        if date.year() < EARLIEST_YEAR {
            errors.push(RowIssue::new(
                IssueCode::InvalidDate,
                format!("date {date} is before {EARLIEST_YEAR}"),
            ));
        } else if today
            .checked_add_days(Days::new(1))
            .is_some_and(|limit| date > limit)
        {
            errors.push(RowIssue::new(
                IssueCode::InvalidDate,
                format!("date {date} is more than a day in the future (today is {today})"),
            ));
        }
    }
    let own_errors = !errors.is_empty();

    let mut result = RowResult {
        outcome: ValidationOutcome::Invalid,
        errors: Vec::new(),
        warnings: row.warnings.clone(),
        company_id: company.map(|c| c.id),
        company_slug: company.map(|c| c.slug.clone()),
        report_employee_id: row.employee_id.clone(),
        employee_id: None,
        bayzat_emp_id: None,
        department: row.department.clone(),
        date: row.date,
        punches: Vec::new(),
    };

    let id = row
        .employee_id
        .as_deref()
        .and_then(|id| EmployeeId::new(id).ok());
    let mut directory_errors = Vec::new();
    match (company, &id) {
        (Some(company), Some(id)) => match company.lookup(id) {
            Lookup::Found(employee) if employee.active => {
                result.employee_id = Some(employee.employee_id.clone());
                result.bayzat_emp_id = Some(
                    employee
                        .bayzat_emp_id
                        .clone()
                        .unwrap_or_else(|| employee.employee_id.clone()),
                );
            }
            Lookup::Found(employee) => directory_errors.push(RowIssue::new(
                IssueCode::UnknownEmployee,
                format!(
                    "employee {} is inactive in {}'s directory",
                    employee.employee_id, company.slug
                ),
            )),
            Lookup::Ambiguous(candidates) => directory_errors.push(RowIssue::new(
                IssueCode::UnknownEmployee,
                format!(
                    "employee {id} matches several ids in {}'s directory ({}) and none exactly",
                    company.slug,
                    candidates.join(", ")
                ),
            )),
            Lookup::NotFound => {
                let elsewhere = directory.companies_knowing(id, Some(company.id), scope);
                let message = if elsewhere.is_empty() {
                    format!("employee {id} is not in {}'s directory", company.slug)
                } else {
                    format!(
                        "employee {id} is not in {}'s directory; that id is in {}'s",
                        company.slug,
                        elsewhere.join("'s and ")
                    )
                };
                directory_errors.push(RowIssue::new(IssueCode::UnknownEmployee, message));
            }
        },
        (None, _) if !row.department.is_empty() => {
            let known_in = id
                .as_ref()
                .map(|id| directory.companies_knowing(id, None, scope))
                .unwrap_or_default();
            let mut message = format!(
                "department {:?} is not the fingerprint report name of any company",
                row.department
            );
            if let (Some(id), false) = (&id, known_in.is_empty()) {
                message.push_str(&format!(
                    "; employee {id} is in {}'s directory",
                    known_in.join("'s and ")
                ));
            }
            directory_errors.push(RowIssue::new(IssueCode::UnmappedDepartment, message));
            if let (Some(id), true) = (&id, known_in.is_empty()) {
                directory_errors.push(RowIssue::new(
                    IssueCode::UnknownEmployee,
                    format!("employee {id} is not in any company's directory"),
                ));
            }
        }
        _ => {}
    }

    if !own_errors && row.punches.is_empty() {
        result.outcome = ValidationOutcome::Skipped;
        return result;
    }
    errors.extend(directory_errors);
    if errors.is_empty() {
        result.outcome = ValidationOutcome::Valid;
        result.punches = row.punches.clone();
    }
    result.errors = errors;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{read_report, ReadOptions};

    fn employee(id: &str, bayzat: Option<&str>, active: bool) -> DirectoryEmployee {
        DirectoryEmployee {
            employee_id: id.to_owned(),
            bayzat_emp_id: bayzat.map(str::to_owned),
            active,
        }
    }

    fn directory() -> Directory {
        Directory::new(vec![
            DirectoryCompany {
                id: 1,
                slug: "advline".into(),
                timezone: "Asia/Dubai".into(),
                report_names: vec!["AdvLine".into()],
                employees: vec![
                    employee("1001", None, true),
                    employee("42", None, true),
                    employee("1007", Some("ADV-1007"), true),
                    employee("1008", None, false),
                    employee("007", None, true),
                    employee("7", None, true),
                ],
            },
            DirectoryCompany {
                id: 2,
                slug: "clarastars".into(),
                timezone: "Asia/Riyadh".into(),
                report_names: vec!["ClaraStars".into()],
                employees: vec![employee("2001", None, true), employee("0042", None, true)],
            },
            DirectoryCompany {
                id: 3,
                slug: "gulflog".into(),
                timezone: "Pacific/Kiritimati".into(),
                report_names: vec!["GulfLog".into(), "Gulf Logistics - Warehouse".into()],
                employees: vec![employee("3001", None, true)],
            },
        ])
        .unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    fn row(id: &str, department: &str, date: &str, check_in: &str) -> ReportRow {
        let text = format!(
            "Employee ID,Name,Department,Date,Check In\n{id},Someone,{department},{date},{check_in}\n"
        );
        let (_, mut rows) = read_report(text.as_bytes(), ReadOptions::default()).unwrap();
        rows.remove(0)
    }

    fn codes(result: &RowResult) -> Vec<&'static str> {
        result.errors.iter().map(|e| e.code.as_str()).collect()
    }

    #[test]
    fn companies_and_employees() {
        struct Case {
            id: &'static str,
            department: &'static str,
            outcome: ValidationOutcome,
            codes: &'static [&'static str],
            company: Option<i64>,
            employee: Option<&'static str>,
            bayzat: Option<&'static str>,
            message: &'static str,
        }
        let cases = [
            Case {
                id: "1001",
                department: "AdvLine",
                outcome: ValidationOutcome::Valid,
                codes: &[],
                company: Some(1),
                employee: Some("1001"),
                bayzat: Some("1001"),
                message: "",
            },
            Case {
                id: " 1001 ",
                department: "  advline ",
                outcome: ValidationOutcome::Valid,
                codes: &[],
                company: Some(1),
                employee: Some("1001"),
                bayzat: Some("1001"),
                message: "",
            },
            Case {
                id: "1007",
                department: "AdvLine",
                outcome: ValidationOutcome::Valid,
                codes: &[],
                company: Some(1),
                employee: Some("1007"),
                bayzat: Some("ADV-1007"),
                message: "",
            },
            Case {
                id: "0042",
                department: "AdvLine",
                outcome: ValidationOutcome::Valid,
                codes: &[],
                company: Some(1),
                employee: Some("42"),
                bayzat: Some("42"),
                message: "",
            },
            // An exact match wins over the numeric one.
            Case {
                id: "0042",
                department: "ClaraStars",
                outcome: ValidationOutcome::Valid,
                codes: &[],
                company: Some(2),
                employee: Some("0042"),
                bayzat: Some("0042"),
                message: "",
            },
            Case {
                id: "42",
                department: "ClaraStars",
                outcome: ValidationOutcome::Valid,
                codes: &[],
                company: Some(2),
                employee: Some("0042"),
                bayzat: Some("0042"),
                message: "",
            },
            Case {
                id: "0007",
                department: "AdvLine",
                outcome: ValidationOutcome::Invalid,
                codes: &["unknown_employee"],
                company: Some(1),
                employee: None,
                bayzat: None,
                message: "matches several ids",
            },
            Case {
                id: "7",
                department: "AdvLine",
                outcome: ValidationOutcome::Valid,
                codes: &[],
                company: Some(1),
                employee: Some("7"),
                bayzat: Some("7"),
                message: "",
            },
            Case {
                id: "A42",
                department: "AdvLine",
                outcome: ValidationOutcome::Invalid,
                codes: &["unknown_employee"],
                company: Some(1),
                employee: None,
                bayzat: None,
                message: "employee A42 is not in advline's directory",
            },
            Case {
                id: "9999",
                department: "AdvLine",
                outcome: ValidationOutcome::Invalid,
                codes: &["unknown_employee"],
                company: Some(1),
                employee: None,
                bayzat: None,
                message: "employee 9999 is not in advline's directory",
            },
            Case {
                id: "2001",
                department: "AdvLine",
                outcome: ValidationOutcome::Invalid,
                codes: &["unknown_employee"],
                company: Some(1),
                employee: None,
                bayzat: None,
                message: "employee 2001 is not in advline's directory; that id is in clarastars's",
            },
            Case {
                id: "1008",
                department: "AdvLine",
                outcome: ValidationOutcome::Invalid,
                codes: &["unknown_employee"],
                company: Some(1),
                employee: None,
                bayzat: None,
                message: "employee 1008 is inactive in advline's directory",
            },
            Case {
                id: "3001",
                department: "Gulf  Logistics - WAREHOUSE",
                outcome: ValidationOutcome::Valid,
                codes: &[],
                company: Some(3),
                employee: Some("3001"),
                bayzat: Some("3001"),
                message: "",
            },
            Case {
                id: "5001",
                department: "Marketing Dept",
                outcome: ValidationOutcome::Invalid,
                codes: &["unmapped_department", "unknown_employee"],
                company: None,
                employee: None,
                bayzat: None,
                message: "employee 5001 is not in any company's directory",
            },
            Case {
                id: "1001",
                department: "Marketing Dept",
                outcome: ValidationOutcome::Invalid,
                codes: &["unmapped_department"],
                company: None,
                employee: None,
                bayzat: None,
                message: "employee 1001 is in advline's directory",
            },
            Case {
                id: "42",
                department: "Marketing Dept",
                outcome: ValidationOutcome::Invalid,
                codes: &["unmapped_department"],
                company: None,
                employee: None,
                bayzat: None,
                message: "employee 42 is in advline's and clarastars's directory",
            },
        ];
        for case in cases {
            let result = validate(
                &row(case.id, case.department, "2026-11-01", "08:00"),
                &directory(),
                now(),
            );
            let label = format!("{} in {}", case.id, case.department);
            assert_eq!(result.outcome, case.outcome, "{label}: {:?}", result.errors);
            assert_eq!(codes(&result), case.codes, "{label}");
            assert_eq!(result.company_id, case.company, "{label}");
            assert_eq!(result.employee_id.as_deref(), case.employee, "{label}");
            assert_eq!(result.bayzat_emp_id.as_deref(), case.bayzat, "{label}");
            assert_eq!(
                result.report_employee_id.as_deref(),
                Some(case.id.trim()),
                "{label}"
            );
            let messages: Vec<&str> = result.errors.iter().map(|e| e.message.as_str()).collect();
            assert!(
                case.message.is_empty() || messages.iter().any(|m| m.contains(case.message)),
                "{label}: {messages:?}"
            );
            assert_eq!(
                result.punches.len(),
                usize::from(case.outcome == ValidationOutcome::Valid),
                "{label}"
            );
        }
    }

    #[test]
    fn dates_must_be_plausible() {
        // now is 2026-11-24 12:00 UTC: 16:00 in Dubai, 02:00 on the 25th at Kiritimati (UTC+14).
        let cases = [
            ("AdvLine", "2026-11-24", ValidationOutcome::Valid),
            ("AdvLine", "2026-11-25", ValidationOutcome::Valid),
            ("AdvLine", "2026-11-26", ValidationOutcome::Invalid),
            ("GulfLog", "2026-11-26", ValidationOutcome::Valid),
            ("GulfLog", "2026-11-27", ValidationOutcome::Invalid),
            ("Marketing", "2026-11-25", ValidationOutcome::Invalid),
            ("AdvLine", "2000-01-01", ValidationOutcome::Valid),
            ("AdvLine", "1999-12-31", ValidationOutcome::Invalid),
            ("AdvLine", "0001-01-01", ValidationOutcome::Invalid),
        ];
        for (department, date, outcome) in cases {
            let id = if department == "GulfLog" {
                "3001"
            } else {
                "1001"
            };
            let result = validate(&row(id, department, date, "08:00"), &directory(), now());
            assert_eq!(
                result.outcome, outcome,
                "{department} {date}: {:?}",
                result.errors
            );
            if department != "Marketing" && outcome == ValidationOutcome::Invalid {
                assert_eq!(codes(&result), ["invalid_date"], "{date}");
            }
        }
        let far = validate(
            &row("5001", "Marketing", "2026-11-26", "08:00"),
            &directory(),
            now(),
        );
        assert_eq!(
            codes(&far),
            ["invalid_date", "unmapped_department", "unknown_employee"]
        );
    }

    #[test]
    fn absences_are_skipped_whatever_the_directory_says() {
        let cases = [
            ("1001", "AdvLine", Some(1)),
            ("9999", "AdvLine", Some(1)),
            ("5001", "Marketing Dept", None),
        ];
        for (id, department, company) in cases {
            let result = validate(
                &row(id, department, "2026-11-01", "--"),
                &directory(),
                now(),
            );
            assert_eq!(result.outcome, ValidationOutcome::Skipped, "{id}");
            assert!(result.errors.is_empty() && result.punches.is_empty());
            assert_eq!(result.company_id, company);
        }
        let broken = validate(
            &row("1001", "AdvLine", "2026-13-45", "--"),
            &directory(),
            now(),
        );
        assert_eq!(broken.outcome, ValidationOutcome::Invalid);
        let future = validate(
            &row("1001", "AdvLine", "2027-01-01", "--"),
            &directory(),
            now(),
        );
        assert_eq!(future.outcome, ValidationOutcome::Invalid);
    }

    #[test]
    fn row_errors_come_first_and_the_directory_still_speaks() {
        let result = validate(
            &row("9999", "AdvLine", "2026-11-01", "25:99"),
            &directory(),
            now(),
        );
        assert_eq!(codes(&result), ["invalid_time", "unknown_employee"]);
        let result = validate(
            &row("", "AdvLine", "2026-11-01", "08:00"),
            &directory(),
            now(),
        );
        assert_eq!(codes(&result), ["missing_field"]);
        assert_eq!(result.company_id, Some(1));
    }

    #[test]
    fn summary_rows_are_skipped_whatever_the_directory_says() {
        let text = "Employee ID,Name,Department,Date,Check In\n\
                    Total,,AdvLine,2026-11-01,08:00\n\
                    ,,المجموع,,\n\
                    Grand Total,9999,Marketing,yesterday,25:99\n";
        let (_, rows) = read_report(text.as_bytes(), ReadOptions::default()).unwrap();
        let clara = ["clarastars".to_owned()];
        let mut summary = crate::ImportSummary::new();
        for row in &rows {
            for scope in [Scope::All, Scope::Only(&clara)] {
                let result = validate_within(row, &directory(), now(), scope);
                assert_eq!(result.outcome, ValidationOutcome::Skipped, "{row:?}");
                assert!(result.errors.is_empty(), "{:?}", result.errors);
                assert_eq!(result.warnings[0].code, IssueCode::SummaryRow);
                assert_eq!((result.company_id, result.employee_id), (None, None));
            }
            summary.add(&validate(row, &directory(), now()));
        }
        assert_eq!((summary.total, summary.skipped, summary.invalid), (3, 3, 0));
        assert!(summary.errors_by_code().is_empty());
        assert!(summary.unmapped_departments().is_empty());
        assert!(summary.unknown_employees().is_empty());
    }

    #[test]
    fn ids_in_arabic_digits_compare_as_ascii() {
        let check = |id: &str, outcome, employee: Option<&str>, unknown: &[&str]| {
            let result = validate(
                &row(id, "AdvLine", "2026-11-20", "08:00"),
                &directory(),
                now(),
            );
            assert_eq!(result.outcome, outcome, "{id}");
            assert_eq!(result.employee_id.as_deref(), employee, "{id}");
            let mut summary = crate::ImportSummary::new();
            summary.add(&result);
            let names: Vec<String> = summary
                .unknown_employees()
                .into_iter()
                .map(|n| n.name)
                .collect();
            assert_eq!(names, unknown, "{id}");
        };
        check("٠٠٤٢", ValidationOutcome::Valid, Some("42"), &[]);
        check("۴۲", ValidationOutcome::Valid, Some("42"), &[]);
        check("١٠٠١", ValidationOutcome::Valid, Some("1001"), &[]);
        check("٩٩٩٩", ValidationOutcome::Invalid, None, &["9999"]);
    }

    #[test]
    fn warnings_pass_through() {
        let text =
            "Employee ID,Name,Department,Date,Day,Check In\n1001,A,AdvLine,2026-11-01,Mon,08:00\n";
        let (_, rows) = read_report(text.as_bytes(), ReadOptions::default()).unwrap();
        let result = validate(&rows[0], &directory(), now());
        assert_eq!(result.outcome, ValidationOutcome::Valid);
        assert_eq!(result.warnings.len(), 1);
        assert_eq!(result.warnings[0].code, IssueCode::WeekdayMismatch);
    }

    #[test]
    fn directory_errors() {
        let company = |slug: &str, tz: &str, names: &[&str]| DirectoryCompany {
            id: 1,
            slug: slug.into(),
            timezone: tz.into(),
            report_names: names.iter().map(|n| n.to_string()).collect(),
            employees: vec![],
        };
        assert_eq!(
            Directory::new(vec![company("a", "Mars/Olympus", &["A"])]).err(),
            Some(DirectoryError::UnknownTimezone {
                slug: "a".into(),
                timezone: "Mars/Olympus".into()
            })
        );
        assert!(matches!(
            Directory::new(vec![
                company("a", "UTC", &["Shared"]),
                company("b", "UTC", &[" shared "])
            ]),
            Err(DirectoryError::SharedReportName { .. })
        ));
        assert!(Directory::new(vec![company("a", "UTC", &["Same", "same"])]).is_ok());
    }

    #[test]
    fn a_scope_refuses_other_companies_rows_and_never_names_them() {
        let clara = ["clarastars".to_owned()];
        let scope = Scope::Only(&clara);
        let check = |id: &str, department: &str, codes_wanted: &[&str]| {
            let row = row(id, department, "2026-11-20", "08:00");
            let result = validate_within(&row, &directory(), now(), scope);
            assert_eq!(codes(&result), codes_wanted, "{id} {department}");
            for issue in &result.errors {
                for other in ["advline", "gulflog"] {
                    assert!(!issue.message.contains(other), "{}", issue.message);
                }
            }
            result
        };
        // advline's row, even for an active advline employee: refused, nothing of advline kept.
        let refused = check("1001", "AdvLine", &["company_not_permitted"]);
        assert_eq!(refused.outcome, ValidationOutcome::Invalid);
        assert_eq!(
            (refused.company_id, refused.company_slug.as_deref()),
            (None, None)
        );
        assert_eq!((refused.employee_id, refused.bayzat_emp_id), (None, None));
        assert!(refused.punches.is_empty());
        // An absence of another company is refused too, not skipped.
        let absence = row("1001", "AdvLine", "2026-11-20", "");
        assert_eq!(
            validate_within(&absence, &directory(), now(), scope).outcome,
            ValidationOutcome::Invalid
        );
        // The hints that another company knows the id stay within the scope.
        check("1001", "ClaraStars", &["unknown_employee"]);
        check(
            "1001",
            "Marketing",
            &["unmapped_department", "unknown_employee"],
        );
        assert_eq!(
            check("2001", "ClaraStars", &[]).outcome,
            ValidationOutcome::Valid,
            "the token's own company imports as usual"
        );
        // Unscoped, the same rows behave as before.
        let all = validate_within(
            &row("1001", "ClaraStars", "2026-11-20", "08:00"),
            &directory(),
            now(),
            Scope::All,
        );
        assert!(
            all.errors[0].message.contains("advline"),
            "{:?}",
            all.errors
        );
        assert!(Scope::All.covers("anything"));
        assert!(!Scope::Only(&[]).covers("clarastars"));
    }
}
