//! Message frames: one [`Bytes`] per message, its fields recorded as offsets into it.
//!
//! Every `Bytes` handle on the shared read buffer costs an atomic increment when it is made and
//! a decrement when it is dropped. Measured on the publish path, handing out subject and payload
//! as separate handles made those atomics most of the decoding time; a message therefore holds
//! a single handle on its frame (still zero-copy) and finds its subject, reply, payload… by
//! offset. Separate handles are one call away (`*_bytes()`) where a consumer needs them.

use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

/// Where one field lies in a frame; empty means "absent" (protocol tokens are never empty).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// The span of a range of frame offsets.
    #[inline]
    pub fn of(range: Range<usize>) -> Span {
        Span {
            start: range.start as u32,
            end: range.end as u32,
        }
    }

    /// The span of an optional range (absent: empty).
    #[inline]
    pub fn of_opt(range: Option<Range<usize>>) -> Span {
        range.map_or(Span::default(), Span::of)
    }

    /// The field's bytes.
    #[inline]
    pub fn get(self, frame: &Bytes) -> &[u8] {
        &frame[self.start as usize..self.end as usize]
    }

    /// The field's bytes, or `None` when absent.
    #[inline]
    pub fn get_opt(self, frame: &Bytes) -> Option<&[u8]> {
        (self.start != self.end).then(|| self.get(frame))
    }

    /// A handle on the field's bytes (zero-copy, one reference count).
    #[inline]
    pub fn bytes(self, frame: &Bytes) -> Bytes {
        frame.slice(self.start as usize..self.end as usize)
    }
}

/// Assembles a frame from parts, for messages built by a program rather than decoded.
pub(crate) struct FrameBuilder {
    buf: BytesMut,
}

impl FrameBuilder {
    /// A builder with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> FrameBuilder {
        FrameBuilder {
            buf: BytesMut::with_capacity(capacity),
        }
    }

    /// Appends a field and returns where it lies.
    pub fn push(&mut self, part: &[u8]) -> Span {
        let start = self.buf.len();
        self.buf.put_slice(part);
        Span::of(start..self.buf.len())
    }

    /// Appends an optional field (absent: an empty span).
    pub fn push_opt(&mut self, part: Option<&[u8]>) -> Span {
        part.map_or(Span::default(), |p| self.push(p))
    }

    /// The finished frame.
    pub fn finish(self) -> Bytes {
        self.buf.freeze()
    }
}
