//! Helpers shared by the proto tests: feeding a decoder whole, split, or byte by byte.

#![allow(dead_code)]

use bytes::BytesMut;
use nats_proto::ProtoError;
use tokio_util::codec::Decoder;

/// What a decoder produced from some input: the ops, and the error that stopped it, if any.
pub struct Outcome<T> {
    pub ops: Vec<T>,
    pub error: Option<ProtoError>,
    /// Bytes left in the buffer at the end (an incomplete op).
    pub left: usize,
}

/// Feeds `chunks` one after another into one buffer, decoding everything available after each.
pub fn feed<D, T>(codec: &mut D, chunks: &[&[u8]]) -> Outcome<T>
where
    D: Decoder<Item = T, Error = ProtoError>,
{
    let mut buf = BytesMut::new();
    let mut ops = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        // Bounded: every successful decode consumes at least one byte.
        for _ in 0..=buf.len() {
            match codec.decode(&mut buf) {
                Ok(Some(op)) => ops.push(op),
                Ok(None) => break,
                Err(error) => {
                    return Outcome {
                        ops,
                        error: Some(error),
                        left: buf.len(),
                    }
                }
            }
        }
    }
    Outcome {
        ops,
        error: None,
        left: buf.len(),
    }
}

/// Decodes `input` in one piece.
pub fn decode_whole<D, T>(mut codec: D, input: &[u8]) -> Outcome<T>
where
    D: Decoder<Item = T, Error = ProtoError>,
{
    feed(&mut codec, &[input])
}

/// Decodes `input` one byte at a time.
pub fn decode_bytewise<D, T>(mut codec: D, input: &[u8]) -> Outcome<T>
where
    D: Decoder<Item = T, Error = ProtoError>,
{
    let chunks: Vec<&[u8]> = input.chunks(1).collect();
    feed(&mut codec, &chunks)
}

/// Decodes `input` in one piece and asserts it yields exactly `expected` with nothing left.
pub fn assert_decodes<D, T>(codec: D, input: &[u8], expected: &[T])
where
    D: Decoder<Item = T, Error = ProtoError>,
    T: PartialEq + std::fmt::Debug,
{
    let out = decode_whole(codec, input);
    assert!(
        out.error.is_none(),
        "{:?}: {:?}",
        String::from_utf8_lossy(input),
        out.error
    );
    assert_eq!(out.ops, expected, "{:?}", String::from_utf8_lossy(input));
    assert_eq!(out.left, 0, "bytes left over");
}

/// Asserts that decoding `input` split at every position, and byte by byte, gives the same
/// ops (and the same error kind) as decoding it whole.
pub fn assert_split_invariant<D, T>(make: impl Fn() -> D, input: &[u8])
where
    D: Decoder<Item = T, Error = ProtoError>,
    T: PartialEq + std::fmt::Debug,
{
    let whole = decode_whole(make(), input);
    let whole_err = whole.error.as_ref().map(|e| e.close());
    for at in 0..=input.len() {
        let split = feed(&mut make(), &[&input[..at], &input[at..]]);
        assert_eq!(split.ops, whole.ops, "split at {at}");
        assert_eq!(
            split.error.as_ref().map(|e| e.close()),
            whole_err,
            "split at {at}"
        );
    }
    let bytewise = decode_bytewise(make(), input);
    assert_eq!(bytewise.ops, whole.ops, "byte by byte");
    assert_eq!(
        bytewise.error.as_ref().map(|e| e.close()),
        whole_err,
        "byte by byte"
    );
}
