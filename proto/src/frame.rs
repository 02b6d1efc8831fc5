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

/// The accessors every message type has (`Publish`, `Message`, `RoutedMsg`), over the fields
/// they all hold: `frame`, `subject`, `reply`, `payload` (spans), `header_size` and
/// `total_size`. Written once so the three cannot drift apart.
macro_rules! message_accessors {
    () => {
        /// Keeps a size token as written (e.g. `005`), for byte-exact re-encoding.
        pub fn with_total_size(mut self, total_size: $crate::Size) -> Self {
            self.total_size = total_size;
            self
        }

        /// The subject (not validated by the decoder).
        #[inline]
        pub fn subject(&self) -> &[u8] {
            self.subject.get(&self.frame)
        }

        /// The reply subject, if any.
        #[inline]
        pub fn reply(&self) -> Option<&[u8]> {
            self.reply.get_opt(&self.frame)
        }

        /// The size of the header block (header-carrying ops only).
        #[inline]
        pub fn header_size(&self) -> Option<$crate::Size> {
            self.header_size
        }

        /// The size of the payload including headers, verbatim from the wire.
        #[inline]
        pub fn total_size(&self) -> $crate::Size {
            self.total_size
        }

        /// The header block followed by the body: `total_size` bytes.
        #[inline]
        pub fn payload(&self) -> &[u8] {
            self.payload.get(&self.frame)
        }

        /// The payload as its own handle on the read buffer (zero-copy).
        #[inline]
        pub fn payload_bytes(&self) -> bytes::Bytes {
            self.payload.bytes(&self.frame)
        }

        /// The header block (empty without headers).
        pub fn headers(&self) -> &[u8] {
            &self.payload()[..self.header_size.map_or(0, $crate::Size::get)]
        }

        /// The body without headers.
        pub fn body(&self) -> &[u8] {
            &self.payload()[self.header_size.map_or(0, $crate::Size::get)..]
        }
    };
}
pub(crate) use message_accessors;

/// `PartialEq`, `Eq` and `Debug` for a message type, by the values of the named accessors
/// (not by its spans: two frames holding the same fields at other offsets are equal).
macro_rules! message_traits {
    ($ty:ident { $($field:ident),+ }) => {
        impl PartialEq for $ty {
            fn eq(&self, other: &$ty) -> bool {
                $(self.$field() == other.$field())&&+
            }
        }

        impl Eq for $ty {}

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &$crate::frame::Shown(self.$field())))+
                    .finish()
            }
        }
    };
}
pub(crate) use message_traits;

/// A field shown by a message's `Debug`: bytes as a byte string, like `Bytes` shows them.
pub(crate) struct Shown<T>(pub T);

impl std::fmt::Debug for Shown<&[u8]> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&Bytes::copy_from_slice(self.0), f)
    }
}

impl std::fmt::Debug for Shown<Option<&[u8]>> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0.map(Bytes::copy_from_slice), f)
    }
}

impl std::fmt::Debug for Shown<crate::Size> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::fmt::Debug for Shown<Option<crate::Size>> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}
