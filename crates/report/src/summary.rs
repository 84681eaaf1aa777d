//! The counts an import reports, accumulated row by row.

use std::collections::BTreeMap;

use domain::normalize_report_name;
use serde::{Deserialize, Serialize};

use crate::rows::IssueCode;
use crate::validate::{Outcome, RowResult};

/// A name (a department, an employee id) and how many rows it was on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedCount {
    pub name: String,
    pub rows: u64,
}

/// Fed every `RowResult` of an import; memory grows with the distinct unmapped departments and
/// unknown ids only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSummary {
    pub total: u64,
    pub valid: u64,
    pub invalid: u64,
    pub skipped: u64,
    /// Keyed by the normalized report name, so "Marketing Dept" and "marketing  dept" are one;
    /// the name shown is the first spelling seen.
    unmapped_departments: BTreeMap<String, NamedCount>,
    unknown_employees: BTreeMap<String, u64>,
    errors_by_code: BTreeMap<IssueCode, u64>,
}

impl ImportSummary {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, result: &RowResult) {
        self.total += 1;
        match result.outcome {
            Outcome::Valid => self.valid += 1,
            Outcome::Invalid => self.invalid += 1,
            Outcome::Skipped => self.skipped += 1,
        }
        let mut codes: Vec<IssueCode> = result.errors.iter().map(|e| e.code).collect();
        codes.sort();
        codes.dedup();
        for code in codes {
            *self.errors_by_code.entry(code).or_default() += 1;
            match code {
                IssueCode::UnmappedDepartment => {
                    self.unmapped_departments
                        .entry(normalize_report_name(&result.department))
                        .or_insert_with(|| NamedCount {
                            name: result.department.clone(),
                            rows: 0,
                        })
                        .rows += 1;
                }
                IssueCode::UnknownEmployee => {
                    if let Some(id) = &result.report_employee_id {
                        *self.unknown_employees.entry(id.clone()).or_default() += 1;
                    }
                }
                _ => {}
            }
        }
    }

    /// Departments no company's report names match, with their row counts, by name.
    pub fn unmapped_departments(&self) -> Vec<NamedCount> {
        self.unmapped_departments.values().cloned().collect()
    }

    /// Employee ids (as in the report) that are not in the right company's directory, or are
    /// inactive there, with their row counts, by id.
    pub fn unknown_employees(&self) -> Vec<NamedCount> {
        self.unknown_employees
            .iter()
            .map(|(name, &rows)| NamedCount {
                name: name.clone(),
                rows,
            })
            .collect()
    }

    /// Invalid rows per error code (a row with two codes counts under both).
    pub fn errors_by_code(&self) -> Vec<(IssueCode, u64)> {
        self.errors_by_code.iter().map(|(&c, &n)| (c, n)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::RowIssue;

    fn result(outcome: Outcome, department: &str, id: &str, codes: &[IssueCode]) -> RowResult {
        RowResult {
            outcome,
            errors: codes.iter().map(|&c| RowIssue::new(c, "x")).collect(),
            warnings: vec![],
            company_id: None,
            company_slug: None,
            report_employee_id: Some(id.to_owned()),
            employee_id: None,
            bayzat_emp_id: None,
            department: department.to_owned(),
            date: None,
            punches: vec![],
        }
    }

    #[test]
    fn counts_rows_departments_and_ids() {
        use IssueCode::*;
        let mut summary = ImportSummary::new();
        for r in [
            result(Outcome::Valid, "AdvLine", "1001", &[]),
            result(Outcome::Skipped, "AdvLine", "1007", &[]),
            result(Outcome::Invalid, "AdvLine", "9999", &[UnknownEmployee]),
            result(
                Outcome::Invalid,
                "AdvLine",
                "9999",
                &[UnknownEmployee, InvalidTime],
            ),
            result(
                Outcome::Invalid,
                "Marketing Dept",
                "5001",
                &[UnmappedDepartment, UnknownEmployee],
            ),
            result(
                Outcome::Invalid,
                "marketing  dept",
                "1001",
                &[UnmappedDepartment],
            ),
            result(Outcome::Invalid, "Sales", "1001", &[UnmappedDepartment]),
        ] {
            summary.add(&r);
        }
        assert_eq!(
            (
                summary.total,
                summary.valid,
                summary.invalid,
                summary.skipped
            ),
            (7, 1, 5, 1)
        );
        assert_eq!(
            summary.unmapped_departments(),
            [
                NamedCount {
                    name: "Marketing Dept".into(),
                    rows: 2
                },
                NamedCount {
                    name: "Sales".into(),
                    rows: 1
                }
            ]
        );
        assert_eq!(
            summary.unknown_employees(),
            [
                NamedCount {
                    name: "5001".into(),
                    rows: 1
                },
                NamedCount {
                    name: "9999".into(),
                    rows: 2
                }
            ]
        );
        assert_eq!(
            summary.errors_by_code(),
            [
                (UnknownEmployee, 3),
                (UnmappedDepartment, 3),
                (InvalidTime, 1)
            ]
        );
        let json = serde_json::to_string(&summary).unwrap();
        assert_eq!(
            serde_json::from_str::<ImportSummary>(&json).unwrap(),
            summary
        );
    }
}
