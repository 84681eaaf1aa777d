//! The parts of an XLSX that are held in memory, sized before the workbook is opened.
//!
//! Worksheets are streamed, but the shared strings and the styles are loaded whole when the
//! workbook opens, and the reader reserves room for as many strings as the shared-string table
//! says it holds (`uniqueCount`) before reading one: a 700-byte file claiming four billion
//! strings would abort the process. The zip's declared sizes are binding (reading past them
//! is an error), so they bound what loading can take.

use std::io::{Read, Seek};

/// The most the loaded parts (shared strings and styles, uncompressed) may weigh.
pub(crate) const LOADED_PARTS_LIMIT: u64 = 256 * 1024 * 1024;
/// The most shared strings a workbook may announce (room for each is reserved up front).
pub(crate) const SHARED_STRINGS_LIMIT: u64 = 10_000_000;

/// Why the workbook is too large to open, or None when it is not, or is no zip at all (the
/// reader then says why).
pub(crate) fn too_large<R: Read + Seek>(reader: &mut R) -> Option<String> {
    let mut zip = zip::ZipArchive::new(&mut *reader).ok()?;
    let mut loaded = 0u64;
    for index in 0..zip.len() {
        let Ok(mut part) = zip.by_index(index) else {
            continue;
        };
        let name = part
            .name()
            .map(|n| n.to_ascii_lowercase())
            .unwrap_or_default();
        let is_strings = name.ends_with("sharedstrings.xml");
        if !is_strings && !name.ends_with("styles.xml") {
            continue;
        }
        loaded = loaded.saturating_add(part.size());
        if is_strings {
            let mut head = Vec::new();
            // The count is an attribute of the root element, at the start of the part.
            if (&mut part).take(4096).read_to_end(&mut head).is_ok() {
                match unique_count(&head) {
                    Some(n) if n <= SHARED_STRINGS_LIMIT => {}
                    None => {}
                    Some(n) => {
                        return Some(format!(
                            "the shared-string table announces {n} strings \
                             (limit {SHARED_STRINGS_LIMIT})"
                        ))
                    }
                }
            }
        }
    }
    (loaded > LOADED_PARTS_LIMIT).then(|| {
        format!(
            "shared strings and styles weigh {} MiB uncompressed (limit {} MiB)",
            loaded >> 20,
            LOADED_PARTS_LIMIT >> 20
        )
    })
}

/// The `uniqueCount` of a shared-string table's root element; u64::MAX when it has more digits
/// than fit.
fn unique_count(head: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"uniqueCount=";
    let at = head.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = head
        .get(at + 1..)?
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .try_fold(0u64, |n, &d| {
            n.checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
        });
    Some(digits.unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::unique_count;

    #[test]
    fn unique_count_is_read_from_the_root_element() {
        assert_eq!(
            unique_count(br#"<sst xmlns="x" count="3" uniqueCount="2">"#),
            Some(2)
        );
        assert_eq!(
            unique_count(b"<sst uniqueCount='4000000000'>"),
            Some(4_000_000_000)
        );
        assert_eq!(
            unique_count(b"<sst uniqueCount=\"99999999999999999999999\">"),
            Some(u64::MAX)
        );
        assert_eq!(unique_count(b"<sst count=\"3\">"), None);
    }
}
