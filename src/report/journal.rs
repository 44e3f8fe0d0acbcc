//! Journals read back (`possim replay`, `possim diff`): line by line, each
//! line bounded, so a hostile file costs at most one line of memory.

use std::io::BufRead;

/// The longest journal line read (a `run_started` with its monitor setup,
/// or an APDU exchange, is a few KiB; a line this long is not possim's).
pub const MAX_LINE: usize = 32 << 20;

/// Why a line could not be read.
#[derive(Debug)]
pub enum LineError {
    /// The file could not be read.
    Io(std::io::Error),
    /// The line is not a journal line (too long, not UTF-8).
    Bad(String),
}

/// The next line without its end, or `None` at the end of the file.
pub fn next_line<'a>(
    r: &mut impl BufRead,
    buf: &'a mut String,
) -> Result<Option<&'a str>, LineError> {
    buf.clear();
    let n = match std::io::Read::take(&mut *r, MAX_LINE as u64 + 1).read_line(buf) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err(LineError::Bad("not UTF-8 text".into()));
        }
        Err(e) => return Err(LineError::Io(e)),
    };
    if n == 0 {
        return Ok(None);
    }
    if n > MAX_LINE {
        return Err(LineError::Bad(format!("longer than {} MiB", MAX_LINE >> 20)));
    }
    Ok(Some(buf.trim_end_matches(['\n', '\r'])))
}
