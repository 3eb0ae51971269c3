//! Reading corridor's own binary wire formats (the negotiation preface, the
//! noise header and payloads): a cursor over a borrowed message whose every
//! read checks the length, so a short or trailing input is a typed error,
//! never a panic or an index out of bounds. Each format maps [`Short`] to
//! its own error.

/// The input ended early, or did not end where the format does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Short {
    /// Fewer bytes than the field needs.
    Truncated,
    /// Bytes after the last field.
    Trailing,
}

/// A cursor over a borrowed message.
///
/// ```
/// use corridor_core::codec::{Reader, Short};
/// let mut reader = Reader::new(&[1, 0, 2, b'h', b'i']);
/// assert_eq!(reader.u8(), Ok(1));
/// assert_eq!(reader.u16(), Ok(2));
/// assert_eq!(reader.take(2), Ok(&b"hi"[..]));
/// assert_eq!(reader.end(), Ok(()));
/// assert_eq!(reader.u8(), Err(Short::Truncated));
/// ```
#[derive(Debug)]
pub struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader(bytes)
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Short> {
        if self.0.len() < n {
            return Err(Short::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, Short> {
        Ok(self.take(1)?[0])
    }

    /// A big-endian u16.
    pub fn u16(&mut self) -> Result<u16, Short> {
        let bytes = self.take(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    /// A big-endian u32.
    pub fn u32(&mut self) -> Result<u32, Short> {
        let bytes = self.take(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// What is left, consumed.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.0.len()
    }

    /// Succeeds only at the end of the input.
    pub fn end(&self) -> Result<(), Short> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Short::Trailing)
        }
    }
}
