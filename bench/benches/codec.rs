//! Codec throughput: decoding `PUB` (what a server reads from clients) and `RMSG` (what it
//! reads from routes) at several payload sizes, and encoding `MSG` control lines (what it
//! writes for every delivery).

use bench::{pub_frames, rmsg_frames};
use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use nats_proto::client::{write_msg_line, ClientOp, ServerCodec};
use nats_proto::route::{RouteCodec, RouteOp};
use nats_proto::{Limits, Size};
use tokio_util::codec::Decoder;

const SIZES: [usize; 4] = [16, 128, 1024, 16 * 1024];

fn frames_for(size: usize) -> usize {
    // Keep each input buffer around 4 MiB at most, and at least 1,000 ops.
    (4 * 1024 * 1024 / (size + 32)).clamp(256, 10_000)
}

/// Throughput counted in messages.
fn msgs(count: usize, _size: usize) -> Throughput {
    Throughput::Elements(count as u64)
}

/// Throughput counted in payload bytes.
fn payload_bytes(count: usize, size: usize) -> Throughput {
    Throughput::Bytes((count * size) as u64)
}

/// The group `name`: for every size in [`SIZES`], decoding a buffer of [`frames_for`] ops
/// built by `frames` with a fresh codec from `codec`, summing the payload lengths that
/// `payload_len` reports for the decoded ops.
fn decode_group<C: Decoder>(
    c: &mut Criterion,
    name: &str,
    throughput: fn(usize, usize) -> Throughput,
    frames: fn(&str, usize, usize) -> BytesMut,
    codec: impl Fn() -> C,
    payload_len: impl Fn(C::Item) -> usize,
) {
    let mut group = c.benchmark_group(name);
    for size in SIZES {
        let count = frames_for(size);
        let input = frames("foo.bar", size, count);
        group.throughput(throughput(count, size));
        group.bench_with_input(BenchmarkId::from_parameter(size), &input, |b, input| {
            b.iter_batched_ref(
                || (codec(), BytesMut::from(&input[..])),
                |(codec, buf)| {
                    let mut n = 0usize;
                    while let Ok(Some(op)) = codec.decode(buf) {
                        n += payload_len(op);
                    }
                    n
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn decode_pub(c: &mut Criterion) {
    let limits = Limits {
        max_payload: 64 * 1024 * 1024,
        ..Limits::default()
    };
    for (name, throughput) in [
        ("decode/pub", msgs as fn(usize, usize) -> Throughput),
        ("decode/pub_bytes", payload_bytes),
    ] {
        decode_group(
            c,
            name,
            throughput,
            pub_frames,
            || ServerCodec::new(limits),
            |op| match op {
                ClientOp::Pub(p) => p.payload().len(),
                _ => 0,
            },
        );
    }
}

fn decode_rmsg(c: &mut Criterion) {
    decode_group(
        c,
        "decode/rmsg",
        msgs,
        rmsg_frames,
        RouteCodec::default,
        |op| match op {
            RouteOp::Msg(m) => m.payload().len(),
            _ => 0,
        },
    );
}

fn encode_msg_line(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode/msg_line");
    const COUNT: usize = 10_000;
    group.throughput(Throughput::Elements(COUNT as u64));
    group.bench_function("plain", |b| {
        let mut dst = BytesMut::with_capacity(COUNT * 64);
        b.iter(|| {
            dst.clear();
            for _ in 0..COUNT {
                write_msg_line(&mut dst, b"foo.bar", b"17", None, None, Size::new(128));
            }
            dst.len()
        })
    });
    group.bench_function("reply_headers", |b| {
        let mut dst = BytesMut::with_capacity(COUNT * 96);
        b.iter(|| {
            dst.clear();
            for _ in 0..COUNT {
                write_msg_line(
                    &mut dst,
                    b"foo.bar",
                    b"17",
                    Some(b"_INBOX.abcdefgh.1"),
                    Some(Size::new(22)),
                    Size::new(150),
                );
            }
            dst.len()
        })
    });
    group.finish();
}

criterion_group!(benches, decode_pub, decode_rmsg, encode_msg_line);
criterion_main!(benches);
