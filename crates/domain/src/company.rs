//! Companies as reports and the IT portal name them.

/// The form a fingerprint report's department name is matched on: trimmed, every run of white
/// space folded to one space, lower-cased. "  Gulf  Logistics - WAREHOUSE " and
/// "gulf logistics - warehouse" are the same department.
pub fn normalize_report_name(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Why a company slug is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    #[error("a slug is 1 to 63 characters")]
    Length,
    #[error("a slug has lower-case letters, digits and dashes, and starts with a letter or digit")]
    Characters,
}

/// Checks a company slug: what URLs, tokens' `companies` claims and the IT portal use.
pub fn validate_slug(slug: &str) -> Result<(), SlugError> {
    if slug.is_empty() || slug.len() > 63 {
        return Err(SlugError::Length);
    }
    let mut chars = slug.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(SlugError::Characters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_names_fold_case_and_space() {
        let table = [
            ("AdvLine", "advline"),
            ("  AdvLine  ", "advline"),
            ("Gulf  Logistics -\tWarehouse", "gulf logistics - warehouse"),
            ("GULF LOGISTICS - WAREHOUSE", "gulf logistics - warehouse"),
            ("قسم  المبيعات", "قسم المبيعات"),
            ("", ""),
            ("   ", ""),
        ];
        for (input, expected) in table {
            assert_eq!(normalize_report_name(input), expected, "{input:?}");
        }
    }

    #[test]
    fn slugs() {
        let table = [
            ("advline", Ok(())),
            ("gulf-log-2", Ok(())),
            ("9lives", Ok(())),
            ("", Err(SlugError::Length)),
            (&"a".repeat(64), Err(SlugError::Length)),
            ("AdvLine", Err(SlugError::Characters)),
            ("-advline", Err(SlugError::Characters)),
            ("adv line", Err(SlugError::Characters)),
            ("adv_line", Err(SlugError::Characters)),
        ];
        for (input, expected) in table {
            assert_eq!(validate_slug(input), expected, "{input:?}");
        }
    }
}
