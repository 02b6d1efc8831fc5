//! The `NATS/1.0` header block carried by `HPUB`/`HMSG`.
//!
//! A block is a version line, optionally with a status code and description
//! (`NATS/1.0 503\r\n`), then `Name: Value` lines, then an empty line. The server relays header
//! bytes without looking at them; this module is for building status messages and for tools
//! that print or send headers.

use bytes::{BufMut, Bytes, BytesMut};

/// The version line prefix every header block starts with.
pub const VERSION: &[u8] = b"NATS/1.0";

/// The complete header block of a no-responders status message (16 bytes).
pub const NO_RESPONDERS: &[u8] = b"NATS/1.0 503\r\n\r\n";

/// A parsed header block. Names and values are slices of the block, not copies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderBlock {
    /// Status code from the version line (`503`), if any.
    pub status: Option<u16>,
    /// Text after the status code, if any.
    pub description: Bytes,
    /// `Name: Value` entries in order (values trimmed of surrounding blanks).
    pub entries: Vec<(Bytes, Bytes)>,
}

/// Why a header block could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// The block does not start with `NATS/1.0`.
    MissingVersion,
    /// The status after the version is not a three-digit number.
    BadStatus,
    /// A line without `:`.
    BadLine,
    /// The block does not end with an empty line.
    Unterminated,
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HeaderError::MissingVersion => "header block does not start with NATS/1.0",
            HeaderError::BadStatus => "bad status code in header block",
            HeaderError::BadLine => "header line without ':'",
            HeaderError::Unterminated => "header block not terminated by an empty line",
        })
    }
}

impl std::error::Error for HeaderError {}

impl HeaderBlock {
    /// Parses a block (the first `header size` bytes of an `HMSG` payload).
    pub fn parse(block: &Bytes) -> Result<HeaderBlock, HeaderError> {
        let mut lines = LineIter { block, at: 0 };
        let first = lines.next().ok_or(HeaderError::MissingVersion)?;
        let rest = first
            .strip_prefix(VERSION)
            .ok_or(HeaderError::MissingVersion)?;
        let mut parsed = HeaderBlock::default();
        let rest = trim(rest);
        if !rest.is_empty() {
            let code_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            if code_len != 3 {
                return Err(HeaderError::BadStatus);
            }
            let code = rest[..3]
                .iter()
                .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
            parsed.status = Some(code);
            parsed.description = block.slice_ref(trim(&rest[3..]));
        }
        loop {
            let line = lines.next().ok_or(HeaderError::Unterminated)?;
            if line.is_empty() {
                return Ok(parsed);
            }
            let colon = line
                .iter()
                .position(|b| *b == b':')
                .ok_or(HeaderError::BadLine)?;
            parsed.entries.push((
                block.slice_ref(trim(&line[..colon])),
                block.slice_ref(trim(&line[colon + 1..])),
            ));
        }
    }

    /// The first value of `name` (names compare case-sensitively, as in nats.go).
    pub fn get(&self, name: &[u8]) -> Option<&Bytes> {
        self.entries
            .iter()
            .find(|(n, _)| n.as_ref() == name)
            .map(|(_, v)| v)
    }
}

/// Writes a header block: the version line with an optional status, the entries, the blank
/// line. Returns the number of bytes written (the `HPUB` header size).
pub fn write_block(dst: &mut BytesMut, status: Option<u16>, entries: &[(&[u8], &[u8])]) -> usize {
    let before = dst.len();
    dst.put_slice(VERSION);
    if let Some(code) = status {
        dst.put_u8(b' ');
        dst.put_slice(format!("{code:03}").as_bytes());
    }
    dst.put_slice(b"\r\n");
    for (name, value) in entries {
        dst.put_slice(name);
        dst.put_slice(b": ");
        dst.put_slice(value);
        dst.put_slice(b"\r\n");
    }
    dst.put_slice(b"\r\n");
    dst.len() - before
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// CR LF (or bare LF) separated lines of a block.
struct LineIter<'a> {
    block: &'a Bytes,
    at: usize,
}

impl<'a> Iterator for LineIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = &self.block[self.at..];
        let nl = memchr::memchr(b'\n', rest)?;
        self.at += nl + 1;
        let line = &rest[..nl];
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_status() {
        let block = Bytes::from_static(b"NATS/1.0\r\nA: B\r\nTrace-Id:  x y \r\n\r\n");
        let parsed = HeaderBlock::parse(&block).expect("valid");
        assert_eq!(parsed.status, None);
        assert_eq!(parsed.get(b"A").map(|v| &v[..]), Some(&b"B"[..]));
        assert_eq!(parsed.get(b"Trace-Id").map(|v| &v[..]), Some(&b"x y"[..]));

        let status = Bytes::from_static(b"NATS/1.0 503 No Responders\r\n\r\n");
        let parsed = HeaderBlock::parse(&status).expect("valid");
        assert_eq!(parsed.status, Some(503));
        assert_eq!(&parsed.description[..], b"No Responders");
    }

    #[test]
    fn rejects_broken_blocks() {
        let bad = |b: &'static [u8]| HeaderBlock::parse(&Bytes::from_static(b)).err();
        assert_eq!(bad(b"HTTP/1.0\r\n\r\n"), Some(HeaderError::MissingVersion));
        assert_eq!(bad(b"NATS/1.0 5x\r\n\r\n"), Some(HeaderError::BadStatus));
        assert_eq!(
            bad(b"NATS/1.0\r\nnocolon\r\n\r\n"),
            Some(HeaderError::BadLine)
        );
        assert_eq!(
            bad(b"NATS/1.0\r\nA: B\r\n"),
            Some(HeaderError::Unterminated)
        );
    }

    #[test]
    fn builds_the_no_responders_block() {
        let mut dst = BytesMut::new();
        assert_eq!(write_block(&mut dst, Some(503), &[]), 16);
        assert_eq!(&dst[..], NO_RESPONDERS);
        let mut dst = BytesMut::new();
        let n = write_block(&mut dst, None, &[(b"A", b"B")]);
        assert_eq!(&dst[..], b"NATS/1.0\r\nA: B\r\n\r\n");
        assert_eq!(n, 18);
    }
}
