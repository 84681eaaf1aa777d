//! Query strings as terminals write them: `key=value` pairs joined by `&`, percent-encoded, with
//! key names whose case varies by firmware (`SN` and `sn`, `table` and `Table`).

/// Splits a query string (without the leading `?`) into decoded pairs, in order. A pair without
/// `=` has an empty value; empty pairs (`a=1&&b=2`) are skipped. Decoding is lossy: bytes that are
/// not UTF-8 become U+FFFD rather than failing the request.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    let query = query.strip_prefix('?').unwrap_or(query);
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode_component(k), decode_component(v)),
            None => (decode_component(pair), String::new()),
        })
        .collect()
}

/// The first value under `key`, compared without regard to ASCII case.
pub fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// Percent-decodes one component; `+` is a space, as in form encoding. A `%` not followed by two
/// hex digits is kept as it is.
pub fn decode_component(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but the unreserved characters of RFC 3986.
pub fn encode_component(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for b in input.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_decoded_in_order() {
        let pairs = parse_query("?SN=ABC&INFO=Ver%208.0%2C2%2C0&flag&&x=a+b");
        assert_eq!(
            pairs,
            vec![
                ("SN".into(), "ABC".into()),
                ("INFO".into(), "Ver 8.0,2,0".into()),
                ("flag".into(), String::new()),
                ("x".into(), "a b".into()),
            ]
        );
        assert_eq!(get(&pairs, "sn"), Some("ABC"));
        assert_eq!(get(&pairs, "missing"), None);
    }

    #[test]
    fn broken_escapes_are_kept_and_bad_utf8_is_replaced() {
        assert_eq!(decode_component("100%"), "100%");
        assert_eq!(decode_component("%4"), "%4");
        assert_eq!(decode_component("%zz1"), "%zz1");
        assert_eq!(decode_component("%FF"), "\u{FFFD}");
        assert_eq!(decode_component("%D8%B9"), "ع");
    }

    #[test]
    fn encoding_round_trips() {
        for s in ["Ver 8.0,2,0", "a&b=c", "ع", "plain-._~"] {
            assert_eq!(decode_component(&encode_component(s)), s);
        }
    }
}
