//! Values to propose when an answer differs: pure functions, so the proposals are testable as
//! tables.

use std::time::Duration;

use regex::Regex;

/// A `BAYZAT_DUPLICATE_PATTERN` that keeps what `current` recognises and adds a fixed phrase of
/// Bayzat's duplicate refusal, chosen so that it matches `duplicate` and none of `others` (the
/// other refusals seen): a pattern that matched an unknown employee's refusal would mark that
/// punch delivered. `variable` holds the parts of the message that change from punch to punch
/// (its empId and time). `None` when no phrase qualifies.
pub fn duplicate_pattern(
    current: &str,
    duplicate: &str,
    variable: &[&str],
    others: &[String],
) -> Option<String> {
    let mut phrases = fixed_phrases(duplicate, variable);
    // The longest phrase is the most specific to this kind of refusal.
    phrases.sort_by_key(|p| std::cmp::Reverse(p.chars().count()));
    phrases.into_iter().find_map(|phrase| {
        let pattern = if current.is_empty() {
            format!("(?i:{})", regex::escape(&phrase))
        } else {
            format!("{current}|(?i:{})", regex::escape(&phrase))
        };
        let re = Regex::new(&pattern).ok()?;
        (re.is_match(duplicate) && !others.iter().any(|o| re.is_match(o))).then_some(pattern)
    })
}

/// The runs of the message between its variable parts and any digits (record counts, ids), with
/// at least three letters each.
fn fixed_phrases(message: &str, variable: &[&str]) -> Vec<String> {
    let mut text = message.to_owned();
    // Longest first, so that an empId such as "1" does not cut a time apart.
    let mut variable: Vec<&str> = variable.iter().copied().filter(|v| !v.is_empty()).collect();
    variable.sort_by_key(|v| std::cmp::Reverse(v.len()));
    for v in variable {
        text = text.replace(v, "\u{0}");
    }
    text.split(|c: char| c == '\u{0}' || c.is_ascii_digit())
        .map(|part| {
            part.trim_matches(|c: char| c.is_whitespace() || c.is_ascii_punctuation())
                .to_owned()
        })
        .filter(|part| part.chars().filter(|c| c.is_alphabetic()).count() >= 3)
        .collect()
}

/// A `BAYZAT_RATE_LIMIT_DELAY` value covering `window`: seconds, rounded up to 10 ms so that a
/// measured window is never rounded below itself.
pub fn delay_seconds(window: Duration) -> String {
    let centis = window.as_millis().div_ceil(10);
    let text = format!("{}.{:02}", centis / 100, centis % 100);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Milliseconds, for the report's text.
pub fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURRENT: &str = "(?i)duplicate|already exists";

    #[test]
    fn a_pattern_is_proposed_from_the_fixed_part_of_the_message() {
        let time = "2026-11-23 09:14:03";
        let emp = "1001";
        let variable = [emp, time];
        let unknown = vec!["No employee found with id probe-x".to_owned()];
        let cases: &[(&str, Option<&str>)] = &[
            (
                "Record exists for 1001 on 2026-11-23 09:14:03",
                Some("(?i)duplicate|already exists|(?i:Record exists for)"),
            ),
            (
                "Attendance of employee 1001 at 2026-11-23 09:14:03 was submitted before",
                Some("(?i)duplicate|already exists|(?i:Attendance of employee)"),
            ),
            // The longest phrase would also match the unknown-employee refusal: the next one.
            (
                "No employee found with id 1001 (record 1 conflicts)",
                Some("(?i)duplicate|already exists|(?i:conflicts)"),
            ),
            // Nothing but variable parts and digits: nothing to propose.
            ("1001 2026-11-23 09:14:03 #409", None),
        ];
        for (message, expected) in cases {
            let got = duplicate_pattern(CURRENT, message, &variable, &unknown);
            assert_eq!(got.as_deref(), *expected, "{message:?}");
            if let Some(p) = got {
                let re = Regex::new(&p).unwrap();
                assert!(re.is_match(message));
                assert!(re.is_match("Duplicate entry"), "keeps the current pattern");
                assert!(!re.is_match(&unknown[0]));
            }
        }
    }

    #[test]
    fn regex_characters_in_the_message_are_taken_literally() {
        let got = duplicate_pattern("", "Conflict (record.exists) for 7", &["7"], &[]).unwrap();
        assert_eq!(got, r"(?i:Conflict \(record\.exists\) for)");
        let re = Regex::new(&got).unwrap();
        assert!(re.is_match("conflict (record.exists) for 8"));
        assert!(!re.is_match("Conflict (recordXexists) for 8"));
    }

    #[test]
    fn delays_are_rounded_up_to_ten_milliseconds() {
        let cases = [
            (1000, "1"),
            (1001, "1.01"),
            (1500, "1.5"),
            (1502, "1.51"),
            (640, "0.64"),
            (5, "0.01"),
            (60_000, "60"),
        ];
        for (millis, expected) in cases {
            assert_eq!(
                delay_seconds(Duration::from_millis(millis)),
                expected,
                "{millis}"
            );
        }
    }
}
