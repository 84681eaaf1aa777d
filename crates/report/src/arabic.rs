//! Arabic as reports write it: one word has several spellings (hamza or not on the alef, tā'
//! marbūṭa written as hā', tatweel stretching a word, diacritics), and numbers come in
//! Arabic-Indic (٠–٩) or Eastern Arabic (۰–۹) digits. Comparisons fold all of that away.

use std::borrow::Cow;

/// The letter a comparison sees, or `None` for a mark that does not change the word.
fn fold_letter(c: char) -> Option<char> {
    match c {
        'أ' | 'إ' | 'آ' | 'ٱ' => Some('ا'),
        'ة' => Some('ه'),
        'ى' => Some('ي'),
        // Tatweel only stretches a word on the page.
        'ـ' => None,
        // Harakat, tanwīn, shadda, sukūn, and the superscript alef.
        '\u{064B}'..='\u{065F}' | '\u{0670}' => None,
        c => Some(c),
    }
}

/// The ASCII digit an Arabic-Indic or Eastern Arabic (Persian) digit stands for.
fn ascii_digit(c: char) -> Option<char> {
    let zero = match c {
        '\u{0660}'..='\u{0669}' => 0x0660,
        '\u{06F0}'..='\u{06F9}' => 0x06F0,
        _ => return None,
    };
    char::from_digit(u32::from(c) - zero, 10)
}

/// The text with Arabic-Indic and Eastern Arabic digits as ASCII ones: "٠٠٤٢" is "0042".
pub(crate) fn ascii_digits(text: &str) -> Cow<'_, str> {
    if text.is_ascii() || !text.chars().any(|c| ascii_digit(c).is_some()) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().map(|c| ascii_digit(c).unwrap_or(c)).collect())
}

/// What labels are compared by: lower-cased, letters and digits only, Arabic letter variants
/// folded and digits made ASCII. "Emp No." and "emp_no" are one name, and so are "رقم البصمة"
/// and "رقم البصمه".
pub(crate) fn comparison_key(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .filter_map(fold_letter)
        .map(|c| ascii_digit(c).unwrap_or(c))
        .filter(|c| c.is_alphanumeric())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_read_as_ascii() {
        let cases = [
            ("٠٠٤٢", "0042"),
            ("۰۰۴۲", "0042"),
            ("١٣/١١/٢٠٢٦", "13/11/2026"),
            ("۰۸:۰۵", "08:05"),
            ("٠٨:٠٥ م", "08:05 م"),
            ("1001", "1001"),
            ("محمد", "محمد"),
            ("", ""),
        ];
        for (text, expected) in cases {
            assert_eq!(ascii_digits(text), expected, "{text:?}");
        }
        assert!(matches!(ascii_digits("1001"), Cow::Borrowed(_)));
        assert!(matches!(ascii_digits("محمد"), Cow::Borrowed(_)));
    }

    #[test]
    fn spellings_fold_to_one_key() {
        let cases = [
            ("رقم البصمة", "رقمالبصمه"),
            ("رقم البصمه", "رقمالبصمه"),
            ("الإدارة", "الاداره"),
            ("الأربعاء", "الاربعاء"),
            ("الإثنين", "الاثنين"),
            ("آخر", "اخر"),
            ("الاســـم", "الاسم"),
            ("الاِسْم", "الاسم"),
            ("مستوى", "مستوي"),
            ("Emp No.", "empno"),
            ("EMP_NO", "empno"),
            ("رقم ١", "رقم1"),
        ];
        for (text, expected) in cases {
            assert_eq!(comparison_key(text), expected, "{text:?}");
        }
    }
}
