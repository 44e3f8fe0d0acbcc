//! Reading files that may be hostile: only regular files, and never more
//! than a stated size, so `/dev/zero`, a FIFO or a huge file named as a
//! scenario, dialect or frame is an error at once rather than a hang.

use std::io::Read;
use std::path::Path;

/// The largest scenario file possim reads.
pub const MAX_SCENARIO: u64 = 4 << 20;
/// The largest dialect, key or frame file possim reads.
pub const MAX_SMALL: u64 = 1 << 20;

/// Reads a regular file of at most `max` bytes.
pub fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    // Look before opening: opening a FIFO for reading blocks until a writer
    // comes, so the kind of file is checked on the path first, then again
    // on what was opened (in case it changed in between).
    let not_regular = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a device, FIFO or directory)",
        )
    };
    if !std::fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let f = std::fs::File::open(path)?;
    if !f.metadata()?.is_file() {
        return Err(not_regular());
    }
    read_capped(f, max)
}

/// Reads at most `max` bytes from `r`; more is an error.
pub fn read_capped(r: impl Read, max: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(max.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than the {max}-byte limit"),
        ));
    }
    Ok(buf)
}

/// Reads a bounded UTF-8 text file; a leading byte-order mark is dropped.
pub fn read_text(path: &Path, max: u64) -> std::io::Result<String> {
    let bytes = read_bounded(path, max)?;
    let text = String::from_utf8(bytes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok(text.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(text))
}
