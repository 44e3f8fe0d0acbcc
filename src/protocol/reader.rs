//! A bounds-checked cursor over untrusted bytes.
//!
//! Every decoder reads peer bytes through this, so running past the end is a
//! `None` the caller turns into a typed error, never a panic (the rustls
//! `Reader` idea).

/// A cursor over a byte slice that never reads past its end.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts at the beginning of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Takes the next `n` bytes, or `None` (and consumes nothing) if fewer remain.
    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    /// Takes one byte.
    #[inline]
    pub(crate) fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// The offset of the next byte from the start of the buffer.
    #[inline]
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// How many bytes are left.
    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_past_the_end_consumes_nothing() {
        let mut r = Reader::new(b"abc");
        assert_eq!(r.take(2), Some(&b"ab"[..]));
        assert_eq!(r.take(2), None);
        assert_eq!(r.pos(), 2);
        assert_eq!(r.byte(), Some(b'c'));
        assert_eq!(r.remaining(), 0);
        assert_eq!(r.take(usize::MAX), None);
    }
}
