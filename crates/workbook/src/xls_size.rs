//! How much memory loading an XLS will take, found before loading it.
//!
//! An XLS cannot be streamed: the reader loads the whole "Workbook" stream and turns every sheet
//! into a dense grid spanning its used range (32 bytes a grid cell), and first reserves room for
//! the cells its DIMENSIONS record announces. A 5 KB file with one cell in A1 and one in IV65536
//! would take half a gigabyte, and a DIMENSIONS record may announce billions of rows. So the
//! records are walked first, one at a time, to size each sheet as the reader will.

use std::collections::HashMap;
use std::io::{BufReader, Read, Seek, SeekFrom};

use calamine::{Cell, Data};

const BOF: u16 = 0x0809;
const EOF: u16 = 0x000A;
const BOUND_SHEET: u16 = 0x0085;
const DIMENSIONS: u16 = 0x0200;
const FORMULA: u16 = 0x0006;
const MUL_RK: u16 = 0x00BD;
/// The records the reader turns into cells: Number, Label, RString, BoolErr, Rk, LabelSst.
const CELL_RECORDS: [u16; 6] = [0x0203, 0x0204, 0x00D6, 0x0205, 0x027E, 0x00FD];

/// What the reader holds per byte of the "Workbook" stream: the stream itself, and a parsed
/// cell (40 bytes) for each cell record (14 bytes at the least).
const BYTES_PER_STREAM_BYTE: u64 = 4;

#[derive(Default, Clone, Copy)]
struct Span {
    first_row: u32,
    last_row: u32,
    first_column: u32,
    last_column: u32,
    used: bool,
}

impl Span {
    fn add(&mut self, row: u32, first_column: u32, last_column: u32) {
        if self.used {
            self.first_row = self.first_row.min(row);
            self.last_row = self.last_row.max(row);
            self.first_column = self.first_column.min(first_column);
            self.last_column = self.last_column.max(last_column);
        } else {
            *self = Span {
                first_row: row,
                last_row: row,
                first_column,
                last_column,
                used: true,
            };
        }
    }

    fn cells(&self) -> u64 {
        if !self.used {
            return 0;
        }
        u64::from(self.last_row - self.first_row + 1)
            * u64::from(self.last_column - self.first_column + 1)
    }
}

#[derive(Default, Clone, Copy)]
struct SheetSize {
    /// Cells the DIMENSIONS record makes the reader reserve room for.
    announced: u64,
    values: Span,
    formulas: Span,
}

/// The estimated peak in bytes of opening the XLS in `reader` and reading its largest sheet, or
/// None when it is no readable XLS (the reader then says why).
pub(crate) fn estimated_peak<R: Read + Seek>(reader: &mut R) -> Option<u64> {
    let mut file = cfb::CompoundFile::open(&mut *reader).ok()?;
    let name = ["/Workbook", "/Book"]
        .into_iter()
        .find(|n| file.is_stream(n))?;
    let stream_len = file.entry(name).ok()?.len();
    let mut stream = BufReader::new(file.open_stream(name).ok()?);

    let positions = sheet_positions(&mut stream);
    // Each listed sheet is loaded, even one listed twice; each is sized once.
    let mut sized = HashMap::new();
    let listed: Vec<SheetSize> = positions
        .iter()
        .map(|&p| *sized.entry(p).or_insert_with(|| sheet_size(&mut stream, p)))
        .collect();

    let data = size_of::<Data>() as u64;
    let grids: u64 = listed
        .iter()
        .map(|s| s.values.cells() * data + s.formulas.cells() * size_of::<String>() as u64)
        .sum();
    let reserved =
        listed.iter().map(|s| s.announced).max().unwrap_or(0) * size_of::<Cell<Data>>() as u64;
    // Reading a sheet copies its grid.
    let copy = listed.iter().map(|s| s.values.cells()).max().unwrap_or(0) * data;
    Some(
        stream_len
            .saturating_mul(BYTES_PER_STREAM_BYTE)
            .saturating_add(grids)
            .saturating_add(reserved)
            .saturating_add(copy),
    )
}

/// The stream offsets of the sheets (BoundSheet8 records of the globals substream).
fn sheet_positions<S: Read + Seek>(stream: &mut S) -> Vec<u64> {
    let mut positions = Vec::new();
    if stream.seek(SeekFrom::Start(0)).is_err() {
        return positions;
    }
    let mut body = Vec::new();
    while let Some(typ) = next_record(stream, &mut body) {
        match typ {
            BOUND_SHEET if body.len() >= 4 => positions.push(u64::from(u32_at(&body, 0))),
            EOF => break,
            _ => {}
        }
    }
    positions
}

fn sheet_size<S: Read + Seek>(stream: &mut S, position: u64) -> SheetSize {
    let mut size = SheetSize::default();
    if stream.seek(SeekFrom::Start(position)).is_err() {
        return size;
    }
    let mut body = Vec::new();
    // The sheet's own BOF opens depth 1; embedded charts nest deeper and are skipped.
    let mut depth = 0u32;
    while let Some(typ) = next_record(stream, &mut body) {
        match typ {
            BOF => depth += 1,
            EOF => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
            }
            _ if depth != 1 => {}
            DIMENSIONS => size.announced = size.announced.max(announced_cells(&body)),
            FORMULA if body.len() >= 4 => {
                let (row, column) = (u32::from(u16_at(&body, 0)), u32::from(u16_at(&body, 2)));
                size.values.add(row, column, column);
                size.formulas.add(row, column, column);
            }
            MUL_RK if body.len() >= 6 => {
                let row = u32::from(u16_at(&body, 0));
                let first = u32::from(u16_at(&body, 2));
                let last = u32::from(u16_at(&body, body.len() - 2));
                size.values.add(row, first, last.max(first));
            }
            t if CELL_RECORDS.contains(&t) && body.len() >= 4 => {
                let column = u32::from(u16_at(&body, 2));
                size.values.add(u32::from(u16_at(&body, 0)), column, column);
            }
            _ => {}
        }
    }
    size
}

/// The cells a DIMENSIONS record announces, read as the reader reads it.
fn announced_cells(body: &[u8]) -> u64 {
    let (first_row, last_row, first_column, last_column) = match body.len() {
        10 => (
            u32::from(u16_at(body, 0)),
            u32::from(u16_at(body, 2)),
            u32::from(u16_at(body, 4)),
            u32::from(u16_at(body, 6)),
        ),
        14 | 16 => (
            u32_at(body, 0),
            u32_at(body, 4),
            u32::from(u16_at(body, 8)),
            u32::from(u16_at(body, 10)),
        ),
        _ => return 0,
    };
    let first_column = if first_column > 0xFF || last_column < first_column {
        0
    } else {
        first_column
    };
    if last_row < 1 || last_column < 1 {
        return 1;
    }
    let rows = u64::from(last_row.saturating_sub(first_row));
    let columns = u64::from(last_column.saturating_sub(first_column));
    rows.max(1) * columns.max(1)
}

/// Reads one record into `body`; None at the end of the stream or a record cut short.
fn next_record<S: Read>(stream: &mut S, body: &mut Vec<u8>) -> Option<u16> {
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).ok()?;
    let typ = u16::from_le_bytes([head[0], head[1]]);
    let len = usize::from(u16::from_le_bytes([head[2], head[3]]));
    body.resize(len, 0);
    stream.read_exact(body).ok()?;
    Some(typ)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::path::PathBuf;

    use super::estimated_peak;

    fn estimate(path: &str) -> Option<u64> {
        let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures")
            .join(path);
        estimated_peak(&mut Cursor::new(std::fs::read(full).unwrap()))
    }

    #[test]
    fn a_small_export_is_sized_small_and_a_sparse_one_by_its_whole_grid() {
        let small = estimate("workbooks/biotime-transactions.xls").unwrap();
        assert!(small > 0 && small < 1 << 20, "{small}");
        // One cell in A1, one in IV65536: 65,536 × 256 grid cells of 32 bytes, at the least.
        let sparse = estimate("bad/sparse-corners.xls").unwrap();
        assert!(sparse >= 65_536 * 256 * 32, "{sparse}");
    }

    #[test]
    fn what_is_no_xls_is_left_to_the_reader() {
        assert_eq!(
            estimated_peak(&mut Cursor::new(b"not a compound file".to_vec())),
            None
        );
        let xlsx = std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/fixtures/workbooks/two-sheets.xlsx"),
        )
        .unwrap();
        assert_eq!(estimated_peak(&mut Cursor::new(xlsx)), None);
    }
}
