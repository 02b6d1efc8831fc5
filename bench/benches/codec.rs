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

fn decode_pub(c: &mut Criterion) {
    let limits = Limits {
        max_payload: 64 * 1024 * 1024,
        ..Limits::default()
    };
    for (unit, name) in [("msgs", "decode/pub"), ("bytes", "decode/pub_bytes")] {
        let mut group = c.benchmark_group(name);
        for size in SIZES {
            let count = frames_for(size);
            let input = pub_frames("foo.bar", size, count);
            group.throughput(if unit == "msgs" {
                Throughput::Elements(count as u64)
            } else {
                Throughput::Bytes((count * size) as u64)
            });
            group.bench_with_input(BenchmarkId::from_parameter(size), &input, |b, input| {
                b.iter_batched_ref(
                    || (ServerCodec::new(limits), BytesMut::from(&input[..])),
                    |(codec, buf)| {
                        let mut n = 0usize;
                        while let Ok(Some(op)) = codec.decode(buf) {
                            if let ClientOp::Pub(p) = op {
                                n += p.payload().len();
                            }
                        }
                        n
                    },
                    BatchSize::LargeInput,
                )
            });
        }
        group.finish();
    }
}

fn decode_rmsg(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode/rmsg");
    for size in SIZES {
        let count = frames_for(size);
        let input = rmsg_frames("foo.bar", size, count);
        group.throughput(Throughput::Elements(count as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &input, |b, input| {
            b.iter_batched_ref(
                || (RouteCodec::default(), BytesMut::from(&input[..])),
                |(codec, buf)| {
                    let mut n = 0usize;
                    while let Ok(Some(op)) = codec.decode(buf) {
                        if let RouteOp::Msg(m) = op {
                            n += m.payload().len();
                        }
                    }
                    n
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
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
