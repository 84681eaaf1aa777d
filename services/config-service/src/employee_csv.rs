//! Reading an employee directory CSV (as HR exports it) into employees, row by row.

use crate::store::employees::EmployeeInput;

/// A row that cannot be used, by its line number in the file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RowError {
    pub line: u64,
    pub error: String,
}

/// Why a file cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileError {
    NotText,
    NoHeader,
    MissingColumns(Vec<&'static str>),
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::NotText => f.write_str("the file is not UTF-8 text"),
            FileError::NoHeader => f.write_str("the file has no header row"),
            FileError::MissingColumns(columns) => {
                write!(f, "missing columns: {}", columns.join(", "))
            }
        }
    }
}

const EMPLOYEE_ID: &[&str] = &[
    "employeeid",
    "empid",
    "employeeno",
    "empno",
    "acno",
    "personnelid",
    "userid",
    "pin",
    "id",
];
const NAME: &[&str] = &["name", "employeename", "fullname"];
const BAYZAT_EMP_ID: &[&str] = &["bayzatempid", "bayzatid", "bayzatemployeeid"];
const ACTIVE: &[&str] = &["active", "isactive", "status"];

fn header_key(cell: &str) -> String {
    cell.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase()
}

fn parse_active(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "yes" | "y" | "active" => Some(true),
        "0" | "false" | "no" | "n" | "inactive" => Some(false),
        _ => None,
    }
}

/// Reads the file: comma, semicolon or tab separated (decided by the header line), header names
/// matched loosely (`Employee ID`, `Emp No.`, `AC-No.` …). Returns the employees and the rows
/// that could not be used.
pub fn parse(bytes: &[u8]) -> Result<(Vec<EmployeeInput>, Vec<RowError>), FileError> {
    let text = std::str::from_utf8(bytes).map_err(|_| FileError::NotText)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let header_line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .ok_or(FileError::NoHeader)?;
    let delimiter = [b'\t', b';', b',']
        .into_iter()
        .max_by_key(|d| header_line.matches(*d as char).count())
        .unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|_| FileError::NoHeader)?
        .iter()
        .map(header_key)
        .collect();
    let column = |aliases: &[&str]| {
        aliases
            .iter()
            .find_map(|alias| headers.iter().position(|h| h == alias))
    };
    let (id_column, name_column) = (column(EMPLOYEE_ID), column(NAME));
    let mut missing = Vec::new();
    if id_column.is_none() {
        missing.push("employee_id");
    }
    if name_column.is_none() {
        missing.push("name");
    }
    let (Some(id_column), Some(name_column)) = (id_column, name_column) else {
        return Err(FileError::MissingColumns(missing));
    };
    let (bayzat_column, active_column) = (column(BAYZAT_EMP_ID), column(ACTIVE));

    let mut employees = Vec::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = error.position().map(|p| p.line()).unwrap_or_default();
                // The reader's own wording stays in the log; the answer says it in ours.
                tracing::debug!(line, %error, "an employee CSV row cannot be read");
                errors.push(RowError {
                    line,
                    error: "the row cannot be read as CSV".to_owned(),
                });
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or_default();
        if record.iter().all(str::is_empty) {
            continue;
        }
        // Identifiers and names are single-line text: a control character (a NUL would cut the
        // name where it is stored) refuses the row.
        let control = [
            (Some(id_column), "employee id"),
            (Some(name_column), "name"),
            (bayzat_column, "bayzat emp id"),
            (active_column, "active"),
        ]
        .into_iter()
        .find_map(|(column, what)| {
            let found = service_kit::control_char(record.get(column?)?)?;
            Some((what, found))
        });
        if let Some((what, found)) = control {
            errors.push(RowError {
                line,
                error: format!(
                    "{what} holds the control character U+{:04X}",
                    u32::from(found)
                ),
            });
            continue;
        }
        let cell = |i: usize| record.get(i).unwrap_or("").to_owned();
        let (employee_id, name) = (cell(id_column), cell(name_column));
        if employee_id.is_empty() {
            errors.push(RowError {
                line,
                error: "employee id is empty".into(),
            });
            continue;
        }
        if name.is_empty() {
            errors.push(RowError {
                line,
                error: "name is empty".into(),
            });
            continue;
        }
        let active = match active_column.map(cell) {
            None => true,
            Some(value) => match parse_active(&value) {
                Some(active) => active,
                None => {
                    errors.push(RowError {
                        line,
                        error: format!("active must be yes or no, not {value:?}"),
                    });
                    continue;
                }
            },
        };
        let bayzat_emp_id = bayzat_column.map(cell).filter(|v| !v.is_empty());
        employees.push(EmployeeInput {
            employee_id,
            name,
            bayzat_emp_id,
            active,
        });
    }
    Ok((employees, errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_aliased_headers_and_delimiters() {
        let table = [
            "Employee ID,Name,Bayzat Emp ID\n1001,Ahmed,\n1007,Omar,ADV-1007\n",
            "\u{feff}AC-No.;Employee Name;Bayzat ID\n1001;Ahmed;\n1007;Omar;ADV-1007\n",
            "emp_no\tfull name\tbayzat_emp_id\r\n1001\tAhmed\t\r\n1007\tOmar\tADV-1007\r\n",
        ];
        for text in table {
            let (employees, errors) = parse(text.as_bytes()).unwrap();
            assert!(errors.is_empty(), "{text:?}: {errors:?}");
            assert_eq!(employees.len(), 2, "{text:?}");
            assert_eq!(employees[0].employee_id, "1001");
            assert_eq!(employees[0].bayzat_emp_id, None);
            assert_eq!(employees[1].bayzat_emp_id.as_deref(), Some("ADV-1007"));
            assert!(employees[1].active);
        }
    }

    #[test]
    fn bad_rows_are_reported_with_their_line() {
        let text = "Employee ID,Name,Active\n1001,Ahmed,yes\n,Nobody,yes\n1003,,yes\n1004,Maria,perhaps\n1005,Sara,no\n\n";
        let (employees, errors) = parse(text.as_bytes()).unwrap();
        assert_eq!(
            employees
                .iter()
                .map(|e| e.employee_id.as_str())
                .collect::<Vec<_>>(),
            ["1001", "1005"]
        );
        assert!(!employees[1].active);
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [3, 4, 5]);
    }

    #[test]
    fn control_characters_refuse_the_row_instead_of_cutting_it() {
        let text = "Employee ID,Name,Bayzat Emp ID\n1001,Ah\u{0}med,\n10\u{1}02,Omar,\n1003,Sara,B\u{7f}\n1004,\"Ali\nHassan\",\n1005,Maria,\n";
        let (employees, errors) = parse(text.as_bytes()).unwrap();
        assert_eq!(
            employees
                .iter()
                .map(|e| (e.employee_id.as_str(), e.name.as_str()))
                .collect::<Vec<_>>(),
            [("1005", "Maria")]
        );
        assert_eq!(
            errors
                .iter()
                .map(|e| (e.line, e.error.as_str()))
                .collect::<Vec<_>>(),
            [
                (2, "name holds the control character U+0000"),
                (3, "employee id holds the control character U+0001"),
                (4, "bayzat emp id holds the control character U+007F"),
                (5, "name holds the control character U+000A"),
            ]
        );
    }

    #[test]
    fn files_that_cannot_be_read() {
        assert_eq!(parse(b"").unwrap_err(), FileError::NoHeader);
        assert_eq!(parse(&[0xff, 0xfe, 0x00]).unwrap_err(), FileError::NotText);
        assert_eq!(
            parse(b"Department,Date\nx,y\n").unwrap_err(),
            FileError::MissingColumns(vec!["employee_id", "name"])
        );
    }
}
