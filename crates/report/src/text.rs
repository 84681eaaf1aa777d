//! From bytes to lines to cells, with memory bounded whatever the input.

use std::io::Read;

use encoding_rs::{CoderResult, Decoder, DecoderResult, Encoding};
use serde::{Deserialize, Serialize};

/// Longer lines are cut here and their row is a `bad_row`: no report line is anywhere near this,
/// and a file that is one enormous line must not take memory with it.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// More cells than this on one line makes it a `bad_row` (and never a header).
pub const MAX_CELLS: usize = 2_000;
/// Decoding works through the input in slices of this size, so a huge chunk from the caller does
/// not mean a huge decoded copy.
const DECODE_SLICE: usize = 64 * 1024;

/// The text encodings a report may be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TextEncoding {
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "utf-16le")]
    Utf16le,
    #[serde(rename = "utf-16be")]
    Utf16be,
    #[serde(rename = "windows-1256")]
    Windows1256,
}

impl TextEncoding {
    pub const fn as_str(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Utf16le => "utf-16le",
            TextEncoding::Utf16be => "utf-16be",
            TextEncoding::Windows1256 => "windows-1256",
        }
    }

    pub(crate) fn encoding(self) -> &'static Encoding {
        match self {
            TextEncoding::Utf8 => encoding_rs::UTF_8,
            TextEncoding::Utf16le => encoding_rs::UTF_16LE,
            TextEncoding::Utf16be => encoding_rs::UTF_16BE,
            TextEncoding::Windows1256 => encoding_rs::WINDOWS_1256,
        }
    }

    /// The encoding a byte-order mark announces, and the mark's length.
    pub(crate) fn from_bom(prefix: &[u8]) -> Option<(TextEncoding, usize)> {
        let (encoding, len) = Encoding::for_bom(prefix)?;
        let text = if encoding == encoding_rs::UTF_8 {
            TextEncoding::Utf8
        } else if encoding == encoding_rs::UTF_16LE {
            TextEncoding::Utf16le
        } else {
            TextEncoding::Utf16be
        };
        Some((text, len))
    }

    pub(crate) const fn bom_len(self) -> usize {
        match self {
            TextEncoding::Utf8 => 3,
            TextEncoding::Utf16le | TextEncoding::Utf16be => 2,
            TextEncoding::Windows1256 => 0,
        }
    }
}

impl std::fmt::Display for TextEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A streaming decoder: malformed input becomes U+FFFD, a character split between two chunks is
/// joined.
pub(crate) struct TextDecoder {
    decoder: Decoder,
    out: String,
}

impl TextDecoder {
    pub(crate) fn new(encoding: TextEncoding) -> Self {
        Self {
            decoder: encoding.encoding().new_decoder_without_bom_handling(),
            out: String::new(),
        }
    }

    pub(crate) fn decode(&mut self, bytes: &[u8], last: bool, mut on_text: impl FnMut(&str)) {
        let mut slices = bytes.chunks(DECODE_SLICE).peekable();
        if slices.peek().is_none() {
            if last {
                self.decode_slice(&[], true);
                on_text(&self.out);
            }
            return;
        }
        while let Some(slice) = slices.next() {
            let slice_last = last && slices.peek().is_none();
            self.decode_slice(slice, slice_last);
            on_text(&self.out);
        }
    }

    fn decode_slice(&mut self, mut slice: &[u8], last: bool) {
        self.out.clear();
        loop {
            let room = self
                .decoder
                .max_utf8_buffer_length(slice.len())
                .unwrap_or(slice.len() * 3 + 16);
            self.out.reserve(room);
            let (result, read, _) = self.decoder.decode_to_string(slice, &mut self.out, last);
            slice = &slice[read..];
            if result == CoderResult::InputEmpty {
                break;
            }
        }
    }
}

/// Checks that a stream is UTF-8, keeping the decoded text so no second decoder is needed.
pub(crate) struct Utf8Check {
    decoder: Decoder,
    out: String,
}

impl Utf8Check {
    pub(crate) fn new() -> Self {
        Self {
            decoder: encoding_rs::UTF_8.new_decoder_without_bom_handling(),
            out: String::new(),
        }
    }

    /// Hands on the decoded text; `false` as soon as the bytes are not UTF-8.
    pub(crate) fn decode(
        &mut self,
        bytes: &[u8],
        last: bool,
        mut on_text: impl FnMut(&str),
    ) -> bool {
        let mut slices = bytes.chunks(DECODE_SLICE).peekable();
        let mut any = false;
        while let Some(slice) = slices.next() {
            any = true;
            let slice_last = last && slices.peek().is_none();
            if !self.decode_slice(slice, slice_last) {
                return false;
            }
            on_text(&self.out);
        }
        if !any && last {
            if !self.decode_slice(&[], true) {
                return false;
            }
            on_text(&self.out);
        }
        true
    }

    fn decode_slice(&mut self, mut slice: &[u8], last: bool) -> bool {
        self.out.clear();
        loop {
            let room = self
                .decoder
                .max_utf8_buffer_length_without_replacement(slice.len())
                .unwrap_or(slice.len() * 3 + 16);
            self.out.reserve(room);
            let (result, read) =
                self.decoder
                    .decode_to_string_without_replacement(slice, &mut self.out, last);
            slice = &slice[read..];
            match result {
                DecoderResult::InputEmpty => return true,
                DecoderResult::OutputFull => continue,
                DecoderResult::Malformed(..) => return false,
            }
        }
    }
}

/// One complete line.
pub(crate) struct Line<'a> {
    /// 1-based, as a text editor numbers it.
    pub number: u64,
    /// Without its line terminator (LF or CRLF).
    pub text: &'a str,
    /// The line was longer than `MAX_LINE_BYTES`; `text` holds only its beginning.
    pub too_long: bool,
}

/// Cuts decoded text into lines, whatever the pieces it arrives in.
#[derive(Default)]
pub(crate) struct Lines {
    buf: String,
    too_long: bool,
    number: u64,
}

impl Lines {
    pub(crate) fn push(&mut self, mut text: &str, mut on_line: impl FnMut(Line<'_>)) {
        while let Some(end) = text.find('\n') {
            self.append(&text[..end]);
            self.emit(&mut on_line);
            text = &text[end + 1..];
        }
        self.append(text);
    }

    /// Lines emitted so far.
    pub(crate) fn count(&self) -> u64 {
        self.number
    }

    /// The last line, when the file does not end with a line break.
    pub(crate) fn finish(&mut self, mut on_line: impl FnMut(Line<'_>)) {
        if !self.buf.is_empty() || self.too_long {
            self.emit(&mut on_line);
        }
    }

    fn append(&mut self, piece: &str) {
        if self.too_long {
            return;
        }
        let room = MAX_LINE_BYTES - self.buf.len();
        if piece.len() <= room {
            self.buf.push_str(piece);
        } else {
            let mut cut = room;
            while !piece.is_char_boundary(cut) {
                cut -= 1;
            }
            self.buf.push_str(&piece[..cut]);
            self.too_long = true;
        }
    }

    fn emit(&mut self, on_line: &mut impl FnMut(Line<'_>)) {
        self.number += 1;
        let text = self.buf.strip_suffix('\r').unwrap_or(&self.buf);
        on_line(Line {
            number: self.number,
            text,
            too_long: self.too_long,
        });
        self.buf.clear();
        self.too_long = false;
    }
}

/// The delimiters a report may use, in the order they win a tie.
pub(crate) const DELIMITERS: [u8; 3] = [b',', b';', b'\t'];

/// A line with nothing in it but white space, delimiters and quotes: Excel leaves rows of empty
/// cells behind, and they are blank lines in everything but name.
pub(crate) fn is_blank(line: &str, delimiters: &[u8]) -> bool {
    line.chars()
        .all(|c| c.is_whitespace() || c == '"' || (c.is_ascii() && delimiters.contains(&(c as u8))))
}

/// Why a line could not be cut into cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SplitProblem {
    UnterminatedQuote,
    TooManyCells,
}

/// Whether a quoted field is still open at the end of the line, by the same rules the csv crate
/// reads with: a quote opens a field only as its first character, `""` inside is a quote, and the
/// field closes at a quote followed by anything else.
pub(crate) fn has_unterminated_quote(line: &[u8], delimiter: u8) -> bool {
    #[derive(PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut state = State::FieldStart;
    for &b in line {
        state = match state {
            State::FieldStart | State::Unquoted | State::QuoteInQuoted if b == delimiter => {
                State::FieldStart
            }
            State::FieldStart if b == b'"' => State::Quoted,
            State::FieldStart | State::Unquoted => State::Unquoted,
            State::Quoted if b == b'"' => State::QuoteInQuoted,
            State::Quoted => State::Quoted,
            State::QuoteInQuoted if b == b'"' => State::Quoted,
            State::QuoteInQuoted => State::Unquoted,
        };
    }
    state == State::Quoted
}

/// What the csv reader reads from: one line at a time, refilled by `CellSplitter`.
#[derive(Default)]
struct LineSource {
    data: Vec<u8>,
    pos: usize,
}

impl Read for LineSource {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = &self.data[self.pos..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

/// Cuts one line into cells with the csv crate. Each line is handed over whole with its own line
/// break, so one reader serves every line of the file; it is rebuilt only if it ever ran dry.
pub(crate) struct CellSplitter {
    delimiter: u8,
    reader: csv::Reader<LineSource>,
    record: csv::StringRecord,
}

impl CellSplitter {
    pub(crate) fn new(delimiter: u8) -> Self {
        Self {
            delimiter,
            reader: Self::reader(delimiter),
            record: csv::StringRecord::new(),
        }
    }

    fn reader(delimiter: u8) -> csv::Reader<LineSource> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(LineSource::default())
    }

    pub(crate) fn split(&mut self, line: &str) -> Result<&csv::StringRecord, SplitProblem> {
        if has_unterminated_quote(line.as_bytes(), self.delimiter) {
            return Err(SplitProblem::UnterminatedQuote);
        }
        // Without quotes every delimiter starts a cell: an absurdly wide line is refused before
        // the csv reader builds a record of it.
        let bytes = line.as_bytes();
        if !bytes.contains(&b'"')
            && bytes.iter().filter(|&&b| b == self.delimiter).count() >= MAX_CELLS
        {
            return Err(SplitProblem::TooManyCells);
        }
        let source = self.reader.get_mut();
        source.data.clear();
        source.data.extend_from_slice(line.as_bytes());
        source.data.push(b'\n');
        source.pos = 0;
        let read = self.reader.read_record(&mut self.record);
        if !matches!(read, Ok(true)) || self.reader.is_done() {
            self.reader = Self::reader(self.delimiter);
        }
        match read {
            Ok(true) => {}
            // Only an empty line reads as no record; it has no cells.
            _ => self.record.clear(),
        }
        if self.record.len() > MAX_CELLS {
            return Err(SplitProblem::TooManyCells);
        }
        Ok(&self.record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(line: &str, delimiter: u8) -> Result<Vec<String>, SplitProblem> {
        let mut splitter = CellSplitter::new(delimiter);
        splitter
            .split(line)
            .map(|r| r.iter().map(str::to_owned).collect())
    }

    #[test]
    fn splitting_one_line() {
        let cases: &[(&str, u8, &[&str])] = &[
            ("a,b,c", b',', &["a", "b", "c"]),
            ("a;b;c", b';', &["a", "b", "c"]),
            ("a\tb\tc", b'\t', &["a", "b", "c"]),
            ("a,b,c,,,", b',', &["a", "b", "c", "", "", ""]),
            ("\"Khan, Fatima\",b", b',', &["Khan, Fatima", "b"]),
            ("\"say \"\"hi\"\"\",b", b',', &["say \"hi\"", "b"]),
            ("ab\"c,d", b',', &["ab\"c", "d"]),
            ("a,b\rc", b',', &["a", "b\rc"]),
            (" a , b ", b',', &[" a ", " b "]),
            ("a;b,c", b',', &["a;b", "c"]),
            ("", b',', &[]),
        ];
        for (line, delimiter, expected) in cases {
            assert_eq!(cells(line, *delimiter).unwrap(), *expected, "{line:?}");
        }
    }

    #[test]
    fn one_reader_serves_many_lines() {
        let mut splitter = CellSplitter::new(b',');
        for i in 0..1000 {
            let line = format!("{i},\"x,{i}\",,");
            let record = splitter.split(&line).unwrap();
            assert_eq!(record.len(), 4);
            assert_eq!(&record[1], format!("x,{i}"));
            assert_eq!(
                splitter.split("1002,\"Fatima,AdvLine"),
                Err(SplitProblem::UnterminatedQuote)
            );
        }
    }

    #[test]
    fn unterminated_quotes() {
        let cases = [
            ("1002,\"Fatima,AdvLine,2026-11-01", true),
            ("\"", true),
            ("a,\"b\"\"", true),
            ("a,\"b\"", false),
            ("a,\"b\"\"c\"", false),
            ("a,b\"c", false),
            ("a,\"b\"c\",d", false),
            ("a,\"\"", false),
        ];
        for (line, open) in cases {
            assert_eq!(
                has_unterminated_quote(line.as_bytes(), b','),
                open,
                "{line:?}"
            );
        }
    }

    #[test]
    fn too_many_cells() {
        let wide = vec!["x"; MAX_CELLS + 1].join(",");
        assert_eq!(cells(&wide, b','), Err(SplitProblem::TooManyCells));
        let fits = vec!["x"; MAX_CELLS].join(",");
        assert_eq!(cells(&fits, b',').unwrap().len(), MAX_CELLS);
    }

    #[test]
    fn lines_in_any_pieces() {
        let text = "one\r\ntwo\n\nthree\r\nfour";
        let mut whole = Vec::new();
        let mut lines = Lines::default();
        lines.push(text, |l| whole.push((l.number, l.text.to_owned())));
        lines.finish(|l| whole.push((l.number, l.text.to_owned())));
        assert_eq!(
            whole,
            [
                (1, "one".to_owned()),
                (2, "two".to_owned()),
                (3, String::new()),
                (4, "three".to_owned()),
                (5, "four".to_owned())
            ]
        );
        let mut piecewise = Vec::new();
        let mut lines = Lines::default();
        for c in text.chars() {
            lines.push(&c.to_string(), |l| {
                piecewise.push((l.number, l.text.to_owned()))
            });
        }
        lines.finish(|l| piecewise.push((l.number, l.text.to_owned())));
        assert_eq!(piecewise, whole);
    }

    #[test]
    fn a_huge_line_is_cut() {
        let mut lines = Lines::default();
        let mut seen = Vec::new();
        let piece = "é".repeat(1000);
        for _ in 0..(MAX_LINE_BYTES / 1000 + 10) {
            lines.push(&piece, |l| seen.push((l.number, l.text.len(), l.too_long)));
        }
        lines.push("\nnext\n", |l| {
            seen.push((l.number, l.text.len(), l.too_long))
        });
        assert_eq!(seen.len(), 2);
        assert!(seen[0].1 <= MAX_LINE_BYTES && seen[0].2);
        assert_eq!(seen[1], (2, 4, false));
    }

    #[test]
    fn blank_lines() {
        for line in ["", " ", ",,,", "\t;\t", "\"\",\"\"", " , , "] {
            assert!(is_blank(line, &DELIMITERS), "{line:?}");
        }
        for line in ["a", ",,x", "0", "\u{a0}x"] {
            assert!(!is_blank(line, &DELIMITERS), "{line:?}");
        }
    }

    #[test]
    fn decoding_joins_split_characters() {
        let text = "محمد,é,€";
        for encoding in [
            TextEncoding::Utf8,
            TextEncoding::Utf16le,
            TextEncoding::Utf16be,
        ] {
            let bytes: Vec<u8> = match encoding {
                TextEncoding::Utf8 => text.as_bytes().to_vec(),
                TextEncoding::Utf16le => text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
                _ => text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
            };
            let mut decoder = TextDecoder::new(encoding);
            let mut out = String::new();
            for b in &bytes {
                decoder.decode(std::slice::from_ref(b), false, |s| out.push_str(s));
            }
            decoder.decode(&[], true, |s| out.push_str(s));
            assert_eq!(out, text, "{encoding}");
        }
    }

    #[test]
    fn utf8_check() {
        let mut check = Utf8Check::new();
        let mut out = String::new();
        let bytes = "a é €".as_bytes();
        for b in bytes {
            assert!(check.decode(std::slice::from_ref(b), false, |s| out.push_str(s)));
        }
        assert!(check.decode(&[], true, |s| out.push_str(s)));
        assert_eq!(out, "a é €");
        let mut check = Utf8Check::new();
        assert!(!check.decode(b"caf\xe9,x", false, |_| {}));
        let mut check = Utf8Check::new();
        assert!(check.decode(b"caf\xc3", false, |_| {}));
        assert!(!check.decode(b"", true, |_| {}));
    }
}
