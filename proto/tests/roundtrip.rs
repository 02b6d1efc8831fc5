//! Property tests: any op encodes to bytes that decode back to the same op, alone or in a
//! stream of ops cut at arbitrary points.

mod common;

use bytes::{Bytes, BytesMut};
use common::feed;
use nats_proto::client::{ClientCodec, ClientOp, Message, Publish, ServerCodec, ServerOp};
use nats_proto::route::{Interest, RouteCodec, RouteOp, RoutedMsg};
use nats_proto::{ConnectInfo, Limits, ServerInfo, Size};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn token() -> impl Strategy<Value = Bytes> {
    "[A-Za-z0-9_$*>.-]{1,24}".prop_map(Bytes::from)
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..200)
}

/// A header block and a body, as payload with its header size.
fn payload_with_headers() -> impl Strategy<Value = (Option<Size>, Size, Bytes)> {
    (option::of(vec(any::<u8>(), 0..60)), payload()).prop_map(|(hdr, body)| {
        let header_size = hdr.as_ref().map(|h| Size::new(h.len() as u32));
        let mut all = hdr.unwrap_or_default();
        all.extend_from_slice(&body);
        (header_size, Size::new(all.len() as u32), Bytes::from(all))
    })
}

fn text() -> impl Strategy<Value = Bytes> {
    "[A-Za-z0-9]([A-Za-z0-9 \"]{0,30}[A-Za-z0-9])?".prop_map(Bytes::from)
}

fn client_op() -> impl Strategy<Value = ClientOp> {
    prop_oneof![
        (token(), option::of(token()), payload_with_headers()).prop_map(
            |(subject, reply, (header_size, _, payload))| ClientOp::Pub(Publish::new(
                &subject,
                reply.as_deref(),
                header_size,
                &payload
            ))
        ),
        (token(), option::of(token()), token()).prop_map(|(subject, queue, sid)| ClientOp::Sub {
            subject,
            queue,
            sid
        }),
        (token(), option::of(0u32..1_000_000_000))
            .prop_map(|(sid, max)| ClientOp::Unsub { sid, max }),
        (any::<bool>(), any::<bool>(), "[a-z ]{0,10}", 0i64..2).prop_map(
            |(verbose, headers, name, protocol)| {
                ClientOp::Connect(Box::new(ConnectInfo {
                    verbose,
                    headers,
                    name,
                    protocol,
                    ..ConnectInfo::default()
                }))
            }
        ),
        Just(ClientOp::Ping),
        Just(ClientOp::Pong),
        Just(ClientOp::Ok),
        text().prop_map(ClientOp::Err),
    ]
}

fn server_op() -> impl Strategy<Value = ServerOp> {
    prop_oneof![
        (
            token(),
            token(),
            option::of(token()),
            payload_with_headers()
        )
            .prop_map(
                |(subject, sid, reply, (header_size, _, payload))| ServerOp::Msg(Message::new(
                    &subject,
                    &sid,
                    reply.as_deref(),
                    header_size,
                    &payload
                ))
            ),
        (
            "[A-Z0-9]{1,56}",
            any::<u16>(),
            vec("[0-9.:]{3,20}", 0..3),
            any::<bool>(),
            any::<u64>()
        )
            .prop_map(
                |(server_id, port, connect_urls, auth_required, client_id)| ServerOp::Info(
                    Box::new(ServerInfo {
                        server_name: server_id.clone(),
                        server_id,
                        version: "2.9.10".into(),
                        proto: 1,
                        port,
                        connect_urls,
                        auth_required,
                        client_id,
                        ..ServerInfo::default()
                    })
                )
            ),
        Just(ServerOp::Ping),
        Just(ServerOp::Pong),
        Just(ServerOp::Ok),
        text().prop_map(ServerOp::Err),
    ]
}

fn interest(weighted: bool) -> impl Strategy<Value = Interest> {
    (token(), token(), option::of((token(), 0u32..1_000_000_000))).prop_map(
        move |(account, subject, queue)| Interest {
            account,
            subject,
            weight: if weighted {
                queue.as_ref().map_or(0, |q| q.1)
            } else {
                0
            },
            queue: queue.map(|q| q.0),
        },
    )
}

fn route_op() -> impl Strategy<Value = RouteOp> {
    prop_oneof![
        (
            option::of(token()),
            token(),
            token(),
            option::of(token()),
            vec(token(), 0..4),
            payload_with_headers()
        )
            .prop_map(
                |(origin, account, subject, reply, queues, (header_size, _, payload))| {
                    let header_size = if origin.is_some() {
                        header_size.or(Some(Size::new(0)))
                    } else {
                        header_size
                    };
                    let queues = Bytes::from(
                        queues
                            .iter()
                            .map(|q| String::from_utf8_lossy(q).into_owned())
                            .collect::<Vec<_>>()
                            .join(" "),
                    );
                    // A reply that is a lone `+` or `|` would read as the queue indicator.
                    let reply = reply.filter(|r| &r[..] != b"+" && &r[..] != b"|");
                    RouteOp::Msg(RoutedMsg::new(
                        origin.as_deref(),
                        &account,
                        &subject,
                        reply.as_deref(),
                        &queues,
                        header_size,
                        &payload,
                    ))
                }
            ),
        interest(true).prop_map(RouteOp::Sub),
        interest(false).prop_map(RouteOp::Unsub),
        (token(), interest(true))
            .prop_map(|(origin, interest)| RouteOp::LeafSub { origin, interest }),
        interest(false).prop_map(RouteOp::LeafUnsub),
        Just(RouteOp::Ping),
        Just(RouteOp::Pong),
        text().prop_map(RouteOp::Err),
    ]
}

fn server_codec() -> ServerCodec {
    let mut codec = ServerCodec::new(Limits::default());
    codec.set_headers(true);
    codec
}

/// Encodes all ops into one stream, cuts it at `cuts` (fractions of its length), decodes.
fn round_trip<T, D>(
    ops: &[T],
    cuts: &[f64],
    encode: impl Fn(&T, &mut BytesMut),
    mut codec: D,
) -> Vec<T>
where
    D: tokio_util::codec::Decoder<Item = T, Error = nats_proto::ProtoError>,
{
    let mut wire = BytesMut::new();
    for op in ops {
        encode(op, &mut wire);
    }
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|f| (f * wire.len() as f64) as usize)
        .collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut last = 0;
    for p in points {
        chunks.push(&wire[last..p]);
        last = p;
    }
    chunks.push(&wire[last..]);
    let out = feed(&mut codec, &chunks);
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.left, 0);
    out.ops
}

proptest! {
    #[test]
    fn client_ops_round_trip(ops in vec(client_op(), 1..20), cuts in vec(0.0f64..1.0, 0..6)) {
        prop_assert_eq!(round_trip(&ops, &cuts, |op, dst| op.encode(dst), server_codec()), ops);
    }

    #[test]
    fn server_ops_round_trip(ops in vec(server_op(), 1..20), cuts in vec(0.0f64..1.0, 0..6)) {
        prop_assert_eq!(round_trip(&ops, &cuts, |op, dst| op.encode(dst), ClientCodec::default()), ops);
    }

    #[test]
    fn route_ops_round_trip(ops in vec(route_op(), 1..20), cuts in vec(0.0f64..1.0, 0..6)) {
        prop_assert_eq!(round_trip(&ops, &cuts, |op, dst| op.encode(dst), RouteCodec::default()), ops);
    }

    #[test]
    fn garbage_never_panics(bytes in vec(any::<u8>(), 0..300)) {
        let _ = common::decode_whole(server_codec(), &bytes);
        let _ = common::decode_whole(RouteCodec::default(), &bytes);
        let _ = common::decode_whole(ClientCodec::default(), &bytes);
    }
}
