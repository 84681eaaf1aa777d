//! The acceptance data in `tests/fixtures` and what Bayzat must end up holding for each report
//! (the rules of the fixtures' README), plus generated reports for tests that need volume.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The fixtures folder, beside the repository.
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");

pub fn path(name: &str) -> PathBuf {
    PathBuf::from(FIXTURES).join(name)
}

pub fn json(name: &str) -> Value {
    let path = path(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// One Bayzat record, as the reports' expected files and the simulator's ledger write it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Punch {
    #[serde(rename = "empId")]
    pub emp_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub time: String,
}

impl Punch {
    pub fn new(emp_id: &str, kind: &str, time: &str) -> Self {
        Self {
            emp_id: emp_id.to_owned(),
            kind: kind.to_owned(),
            time: time.to_owned(),
        }
    }
}

impl From<&bayzat_sim::LedgerEntry> for Punch {
    fn from(entry: &bayzat_sim::LedgerEntry) -> Self {
        Self::new(&entry.emp_id, &entry.kind, &entry.time)
    }
}

/// A company of `directory.json` with its Bayzat settings.
#[derive(Debug, Clone)]
pub struct Company {
    pub slug: String,
    pub api_key: String,
    pub is_enabled: bool,
    pub sync_frequency: String,
    /// The empIds the company's key knows on the Bayzat side.
    pub bayzat_employees: BTreeSet<String>,
}

/// `directory.json`: the companies and what Bayzat knows of each.
#[derive(Debug, Clone)]
pub struct Directory {
    pub companies: Vec<Company>,
}

impl Directory {
    pub fn load() -> Self {
        let file = json("directory.json");
        let simulator = &file["bayzat_simulator"];
        let companies = file["companies"]
            .as_array()
            .expect("companies")
            .iter()
            .map(|c| {
                let api_key = c["bayzat"]["api_key"].as_str().unwrap_or("").to_owned();
                Company {
                    slug: c["slug"].as_str().expect("slug").to_owned(),
                    is_enabled: c["bayzat"]["is_enabled"].as_bool().unwrap_or(true),
                    sync_frequency: c["bayzat"]["sync_frequency"]
                        .as_str()
                        .unwrap_or("manual")
                        .to_owned(),
                    bayzat_employees: simulator[&api_key]
                        .as_array()
                        .map(|ids| {
                            ids.iter()
                                .filter_map(|id| id.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                    api_key,
                }
            })
            .collect();
        Self { companies }
    }

    pub fn company(&self, slug: &str) -> &Company {
        self.companies
            .iter()
            .find(|c| c.slug == slug)
            .unwrap_or_else(|| panic!("no company {slug} in directory.json"))
    }
}

/// Where a company's queued punches end, by the fixtures' rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompanyOutcome {
    /// In Bayzat's ledger.
    pub delivered: BTreeSet<Punch>,
    /// Refused by Bayzat (an empId its key does not know).
    pub rejected: BTreeSet<Punch>,
    /// Kept back because the company is disabled.
    pub held: BTreeSet<Punch>,
    /// Waiting for the company's hourly or daily run (or a "sync now"); once sent, they split
    /// into delivered and rejected as above.
    pub scheduled: BTreeSet<Punch>,
}

impl CompanyOutcome {
    /// What a scheduled company's punches become once sent.
    pub fn after_sync_now(&self, company: &Company) -> CompanyOutcome {
        let mut outcome = CompanyOutcome {
            delivered: self.delivered.clone(),
            rejected: self.rejected.clone(),
            held: self.held.clone(),
            scheduled: BTreeSet::new(),
        };
        for punch in &self.scheduled {
            if company.bayzat_employees.contains(&punch.emp_id) {
                outcome.delivered.insert(punch.clone());
            } else {
                outcome.rejected.insert(punch.clone());
            }
        }
        outcome
    }
}

/// The punches of an expected file's `punches` (or `new_after_basic`) section, per company.
pub fn punches_of(section: &Value) -> BTreeMap<String, Vec<Punch>> {
    section
        .as_object()
        .map(|companies| {
            companies
                .iter()
                .map(|(slug, records)| {
                    (
                        slug.clone(),
                        serde_json::from_value(records.clone()).expect("records"),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Where each company's queued punches end: a disabled company's are held, an hourly or daily
/// company's are scheduled, the rest are delivered, less those of empIds the company's key does
/// not know, which Bayzat rejects.
pub fn outcomes(
    directory: &Directory,
    queued: &BTreeMap<String, Vec<Punch>>,
) -> BTreeMap<String, CompanyOutcome> {
    queued
        .iter()
        .map(|(slug, punches)| {
            let company = directory.company(slug);
            let mut outcome = CompanyOutcome::default();
            for punch in punches {
                let set = if !company.is_enabled {
                    &mut outcome.held
                } else if company.sync_frequency != "manual" {
                    &mut outcome.scheduled
                } else if company.bayzat_employees.contains(&punch.emp_id) {
                    &mut outcome.delivered
                } else {
                    &mut outcome.rejected
                };
                set.insert(punch.clone());
            }
            (slug.clone(), outcome)
        })
        .collect()
}

/// The outcome of importing fixture report `report` (a path in the fixtures folder, such as
/// `workbooks/two-sheets.xlsx`) alone into a system loaded with `directory.json`.
pub fn report_outcomes(directory: &Directory, report: &str) -> BTreeMap<String, CompanyOutcome> {
    let file = report.rsplit_once('/').map_or(report, |(_, file)| file);
    let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
    let expected = json(&format!("expected/{stem}.json"));
    outcomes(directory, &punches_of(&expected["punches"]))
}

/// Employees of `directory.json` that Bayzat knows, as (id on the clock, empId at Bayzat).
pub const ADVLINE_EMPLOYEES: [(&str, &str); 6] = [
    ("1001", "1001"),
    ("1002", "1002"),
    ("1003", "1003"),
    ("1005", "1005"),
    ("0042", "42"),
    ("1007", "ADV-1007"),
];
pub const CLARASTARS_EMPLOYEES: [(&str, &str); 4] = [
    ("2001", "2001"),
    ("2002", "2002"),
    ("2003", "2003"),
    ("2004", "2004"),
];

/// A generated daily report (the basic.csv layout without title rows) of `days` days from
/// `first_day` (`YYYY-MM-DD`), one row per day for every employee Bayzat knows at advline and
/// clarastars; and the punches it must queue per company.
pub fn generated_report(first_day: &str, days: u32) -> (String, BTreeMap<String, Vec<Punch>>) {
    let first = chrono::NaiveDate::parse_from_str(first_day, "%Y-%m-%d").expect("a date");
    let mut csv =
        String::from("Employee ID,First Name,Department,Date,Weekday,Check In,Check Out\n");
    let mut punches: BTreeMap<String, Vec<Punch>> = BTreeMap::new();
    for day in 0..days {
        let date = first + chrono::Days::new(u64::from(day));
        let weekday = date.format("%A");
        for (department, slug, employees) in [
            ("AdvLine", "advline", &ADVLINE_EMPLOYEES[..]),
            ("ClaraStars", "clarastars", &CLARASTARS_EMPLOYEES[..]),
        ] {
            for (n, (clock_id, emp_id)) in employees.iter().enumerate() {
                let check_in = format!("08:{:02}", n);
                let check_out = format!("17:{:02}", n);
                csv.push_str(&format!(
                    "{clock_id},Employee {clock_id},{department},{date},{weekday},{check_in},{check_out}\n"
                ));
                let records = punches.entry(slug.to_owned()).or_default();
                records.push(Punch::new(
                    emp_id,
                    "checkIn",
                    &format!("{date} {check_in}:00"),
                ));
                records.push(Punch::new(
                    emp_id,
                    "checkOut",
                    &format!("{date} {check_out}:00"),
                ));
            }
        }
    }
    (csv, punches)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_csv_splits_by_the_fixture_rules() {
        let directory = Directory::load();
        let outcomes = report_outcomes(&directory, "basic.csv");
        let advline = &outcomes["advline"];
        assert_eq!(advline.delivered.len(), 18);
        assert!(advline.rejected.iter().all(|p| p.emp_id == "1004"));
        assert_eq!(advline.rejected.len(), 2);
        assert_eq!(outcomes["dormant"].held.len(), 2);
        assert!(outcomes["dormant"].delivered.is_empty());
        let gulflog = &outcomes["gulflog"];
        assert_eq!(gulflog.scheduled.len(), 4);
        let after = gulflog.after_sync_now(directory.company("gulflog"));
        assert_eq!(after.delivered.len(), 4);
        assert!(after.scheduled.is_empty());
    }

    #[test]
    fn a_workbook_in_its_folder_has_its_expected_file_by_name() {
        let directory = Directory::load();
        let outcomes = report_outcomes(&directory, "workbooks/two-sheets.xlsx");
        assert_eq!(outcomes["clarastars"].delivered.len(), 8);
    }

    #[test]
    fn a_generated_report_queues_two_punches_a_row() {
        let (csv, punches) = generated_report("2026-01-30", 3);
        assert_eq!(csv.lines().count(), 1 + 3 * 10);
        assert_eq!(punches["advline"].len(), 3 * 6 * 2);
        assert_eq!(punches["clarastars"].len(), 3 * 4 * 2);
        assert!(csv.contains("0042,Employee 0042,AdvLine,2026-02-01,Sunday,08:04,17:04"));
        assert!(punches["advline"].contains(&Punch::new("42", "checkOut", "2026-02-01 17:04:00")));
    }
}
