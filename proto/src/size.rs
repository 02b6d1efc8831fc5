//! Size tokens of `PUB`, `MSG`, `RMSG` and friends, kept verbatim.
//!
//! nats-server echoes the publisher's size token byte for byte (`PUB foo 005` is delivered as
//! `MSG foo 1 005`). A token is 1–9 ASCII digits, so its value and its width (leading zeros
//! included) describe it exactly, in eight bytes and without pointing into the read buffer.

use std::num::NonZeroU8;

use bytes::{BufMut, BytesMut};

/// A decimal size token: its value and the number of digits it was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Size {
    value: u32,
    // Never zero, which lets `Option<Size>` stay eight bytes.
    width: NonZeroU8,
}

impl Size {
    /// The most digits nats-server accepts in a size token.
    pub const MAX_DIGITS: usize = 9;

    /// A size written the natural way, without leading zeros.
    pub fn new(value: u32) -> Size {
        let mut width = NonZeroU8::MIN;
        let mut rest = value / 10;
        while rest > 0 {
            width = width.saturating_add(1);
            rest /= 10;
        }
        Size { value, width }
    }

    /// Parses a token of 1–9 ASCII digits; anything else is `None` (nats-server's `parseSize`).
    #[inline]
    pub fn parse(token: &[u8]) -> Option<Size> {
        let width = NonZeroU8::new(token.len() as u8)?;
        if token.len() > Self::MAX_DIGITS {
            return None;
        }
        let mut value = 0u32;
        for &b in token {
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u32::from(b - b'0');
        }
        Some(Size { value, width })
    }

    /// The numeric value.
    #[inline]
    pub fn get(self) -> usize {
        self.value as usize
    }

    /// Writes the token as it was received (zero-padded to its original width).
    #[inline]
    pub fn write(self, dst: &mut BytesMut) {
        let mut digits = [b'0'; 10];
        let mut v = self.value;
        let mut i = digits.len();
        while v > 0 {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        let start = digits.len() - usize::from(self.width.get()).max(digits.len() - i);
        dst.put_slice(&digits[start..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(size: Size) -> Vec<u8> {
        let mut dst = BytesMut::new();
        size.write(&mut dst);
        dst.to_vec()
    }

    #[test]
    fn tokens_round_trip_verbatim() {
        for token in ["0", "5", "005", "000000000", "999999999", "1048576", "10"] {
            let size = Size::parse(token.as_bytes()).expect("valid token");
            assert_eq!(written(size), token.as_bytes());
        }
    }

    #[test]
    fn bad_tokens_are_rejected() {
        for token in ["", "-1", "+1", "1a", "1234567890", " 1"] {
            assert_eq!(Size::parse(token.as_bytes()), None, "{token:?}");
        }
    }

    #[test]
    fn new_writes_natural_width() {
        assert_eq!(written(Size::new(0)), b"0");
        assert_eq!(written(Size::new(16384)), b"16384");
        assert_eq!(Size::new(16384).get(), 16384);
    }
}
