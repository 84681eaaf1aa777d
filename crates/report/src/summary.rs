//! The counts an import reports, accumulated row by row.

use std::collections::BTreeMap;

use domain::normalize_report_name;
use serde::{Deserialize, Serialize};

use crate::rows::IssueCode;
use crate::validate::{RowResult, ValidationOutcome};

/// A name (a department, an employee id) and how many rows it was on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedCount {
    pub name: String,
    pub rows: u64,
}

/// The counts of an import: its rows by outcome, its punches by what became of them, the
/// departments no company claims and the employee ids no directory knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportSummary {
    pub total: u64,
    pub valid: u64,
    pub invalid: u64,
    pub skipped: u64,
    // The punch counts are the storing side's to add: whether a punch is new depends on the
    // punches stored already, which reading a report cannot know.
    /// Punches this import stored for the first time.
    pub punches_new: u64,
    /// Punches a row gives again after an earlier row of the same file.
    pub duplicate_punches_in_file: u64,
    /// Punches an earlier import stored already (never sent again).
    pub duplicate_punches_known: u64,
    /// Rows per department no company's report names match. Spellings the directory takes for
    /// one name ("Marketing Dept", "marketing  dept") are one department, shown as first spelt.
    // Keyed by the normalized report name.
    #[serde(with = "by_shown_name")]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, u64>))]
    unmapped_departments: BTreeMap<String, NamedCount>,
    /// Rows per employee id (as in the report) that is unknown or inactive in its company's
    /// directory.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, u64>))]
    unknown_employees: BTreeMap<String, u64>,
    /// Invalid rows per error code (a row with two codes counts under both).
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, u64>))]
    errors_by_code: BTreeMap<IssueCode, u64>,
}

impl ImportSummary {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one row's result. Memory grows with the distinct unmapped departments and unknown
    /// ids only.
    pub fn add(&mut self, result: &RowResult) {
        self.total += 1;
        match result.outcome {
            ValidationOutcome::Valid => self.valid += 1,
            ValidationOutcome::Invalid => self.invalid += 1,
            ValidationOutcome::Skipped => self.skipped += 1,
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

    /// Departments no company's report names match, with their row counts, in the order of
    /// their normalized names (so case does not split the list).
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

/// Unmapped departments as `{"name shown": rows}`: the normalized key is the shown name's own
/// normalization, so it is not written, and is worked out again when read.
mod by_shown_name {
    use std::collections::BTreeMap;

    use domain::normalize_report_name;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::NamedCount;

    pub fn serialize<S: Serializer>(
        departments: &BTreeMap<String, NamedCount>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_map(departments.values().map(|d| (&d.name, d.rows)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<String, NamedCount>, D::Error> {
        let shown = BTreeMap::<String, u64>::deserialize(deserializer)?;
        let mut departments: BTreeMap<String, NamedCount> = BTreeMap::new();
        for (name, rows) in shown {
            departments
                .entry(normalize_report_name(&name))
                .or_insert_with(|| NamedCount { name, rows: 0 })
                .rows += rows;
        }
        Ok(departments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::RowIssue;

    fn result(
        outcome: ValidationOutcome,
        department: &str,
        id: &str,
        codes: &[IssueCode],
    ) -> RowResult {
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
            result(ValidationOutcome::Valid, "AdvLine", "1001", &[]),
            result(ValidationOutcome::Skipped, "AdvLine", "1007", &[]),
            result(
                ValidationOutcome::Invalid,
                "AdvLine",
                "9999",
                &[UnknownEmployee],
            ),
            result(
                ValidationOutcome::Invalid,
                "AdvLine",
                "9999",
                &[UnknownEmployee, InvalidTime],
            ),
            result(
                ValidationOutcome::Invalid,
                "Marketing Dept",
                "5001",
                &[UnmappedDepartment, UnknownEmployee],
            ),
            result(
                ValidationOutcome::Invalid,
                "marketing  dept",
                "1001",
                &[UnmappedDepartment],
            ),
            result(
                ValidationOutcome::Invalid,
                "Sales",
                "1001",
                &[UnmappedDepartment],
            ),
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

    #[test]
    fn serializes_counts_with_departments_by_the_name_shown() {
        use IssueCode::*;
        let mut summary = ImportSummary::new();
        for r in [
            result(ValidationOutcome::Valid, "AdvLine", "1001", &[]),
            result(
                ValidationOutcome::Invalid,
                "Marketing Dept",
                "5001",
                &[UnmappedDepartment, UnknownEmployee],
            ),
            result(
                ValidationOutcome::Invalid,
                " MARKETING   dept",
                "5002",
                &[UnmappedDepartment],
            ),
            result(
                ValidationOutcome::Invalid,
                "accounts",
                "5003",
                &[UnmappedDepartment],
            ),
        ] {
            summary.add(&r);
        }
        // Added by whoever stores the punches.
        summary.punches_new = 3;
        summary.duplicate_punches_in_file = 2;
        summary.duplicate_punches_known = 1;
        assert_eq!(
            serde_json::to_value(&summary).unwrap(),
            serde_json::json!({
                "total": 4,
                "valid": 1,
                "invalid": 3,
                "skipped": 0,
                "punches_new": 3,
                "duplicate_punches_in_file": 2,
                "duplicate_punches_known": 1,
                "unmapped_departments": { "accounts": 1, "Marketing Dept": 2 },
                "unknown_employees": { "5001": 1 },
                "errors_by_code": { "unknown_employee": 1, "unmapped_department": 3 },
            })
        );
        // One department however it is spelt, listed case-blind: what the operator maps covers
        // every spelling, because the directory matches report names the same way.
        assert_eq!(
            summary.unmapped_departments(),
            [
                NamedCount {
                    name: "accounts".into(),
                    rows: 1
                },
                NamedCount {
                    name: "Marketing Dept".into(),
                    rows: 2
                }
            ]
        );
        let json = serde_json::to_string(&summary).unwrap();
        assert_eq!(
            serde_json::from_str::<ImportSummary>(&json).unwrap(),
            summary
        );
    }
}
