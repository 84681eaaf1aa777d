//! Texts taken from an answer, cut to a size a log line, a status column or an operator's screen
//! can hold.

/// Longest body excerpt handed back for an answer nobody expected: enough to diagnose, short
/// enough for a log line or a status column.
pub const EXCERPT_CHARS: usize = 200;

/// Longest refusal message kept. The message is shown to the operator next to a rejected punch,
/// so it is kept whole unless a server sends something absurd.
pub const MESSAGE_CHARS: usize = 1000;

/// The start of a body as text, for answers that are not what the contract says.
pub(crate) fn excerpt(body: &[u8]) -> String {
    truncate(String::from_utf8_lossy(body).trim(), EXCERPT_CHARS)
}

/// At most `max_chars` characters, cut on a character boundary.
pub(crate) fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_trimmed_and_cut_on_character_boundaries() {
        assert_eq!(excerpt(b"  teapot \n"), "teapot");
        assert_eq!(excerpt(b""), "");
        assert_eq!(excerpt(&[0xff, b'a']), "\u{fffd}a");
        let long = "é".repeat(EXCERPT_CHARS + 1);
        assert_eq!(excerpt(long.as_bytes()).chars().count(), EXCERPT_CHARS);
        assert_eq!(truncate("abc", 2), "ab");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("", 0), "");
    }
}
