//! A real client no one here wrote (async-nats) against our server: publish/subscribe,
//! request/reply, queue groups, headers, no responders, wildcards, authentication, and
//! reconnecting after a server restart. (async-nats 0.46 does not copy credentials from a
//! `nats://user:pass@` URL into CONNECT, so URL credentials are covered by the raw tests.)

mod common;

use std::time::Duration;

use common::{TestServer, WAIT};
use futures::StreamExt;

const T: Duration = Duration::from_secs(10);

/// A fresh server, and an async-nats client connected to it.
async fn server_and_client() -> (TestServer, async_nats::Client) {
    let server = TestServer::start(&[]);
    let client = async_nats::connect(server.url()).await.expect("connect");
    (server, client)
}

async fn next(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(T, sub.next())
        .await
        .expect("message in time")
        .expect("subscription open")
}

#[tokio::test]
async fn publish_subscribe_and_wildcards() {
    let (_server, client) = server_and_client().await;
    let mut exact = client.subscribe("orders.new").await.expect("sub");
    let mut star = client.subscribe("orders.*").await.expect("sub");
    let mut tail = client.subscribe("orders.>").await.expect("sub");
    client.flush().await.expect("flush");
    client
        .publish("orders.new", "one".into())
        .await
        .expect("pub");
    client
        .publish("orders.eu.new", "two".into())
        .await
        .expect("pub");
    client.flush().await.expect("flush");
    assert_eq!(next(&mut exact).await.payload, "one");
    assert_eq!(next(&mut star).await.payload, "one");
    assert_eq!(next(&mut tail).await.payload, "one");
    assert_eq!(next(&mut tail).await.payload, "two");
    // `orders.*` must not see the three-token subject.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), star.next())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn request_reply() {
    let (server, responder) = server_and_client().await;
    let mut requests = responder.subscribe("time").await.expect("sub");
    responder.flush().await.expect("flush");
    tokio::spawn(async move {
        while let Some(msg) = requests.next().await {
            if let Some(reply) = msg.reply {
                let _ = responder.publish(reply, "now".into()).await;
            }
        }
    });
    let client = async_nats::connect(server.url()).await.expect("connect");
    let answer = tokio::time::timeout(T, client.request("time", "?".into()))
        .await
        .expect("in time")
        .expect("answer");
    assert_eq!(answer.payload, "now");
}

#[tokio::test]
async fn no_responders_is_reported() {
    let (_server, client) = server_and_client().await;
    let err = tokio::time::timeout(T, client.request("nobody.home", "?".into()))
        .await
        .expect("in time")
        .expect_err("no responders");
    assert_eq!(err.kind(), async_nats::RequestErrorKind::NoResponders);
}

#[tokio::test]
async fn queue_group_delivers_each_message_once() {
    let (_server, client) = server_and_client().await;
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(
            client
                .queue_subscribe("work", "workers".into())
                .await
                .expect("qsub"),
        );
    }
    client.flush().await.expect("flush");
    const N: usize = 300;
    for i in 0..N {
        client
            .publish("work", i.to_string().into())
            .await
            .expect("pub");
    }
    client.flush().await.expect("flush");
    let mut seen = Vec::new();
    let mut per_member = Vec::new();
    for m in members.iter_mut() {
        let mut count = 0;
        while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(300), m.next()).await {
            seen.push(
                String::from_utf8_lossy(&msg.payload)
                    .parse::<usize>()
                    .expect("number"),
            );
            count += 1;
        }
        per_member.push(count);
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..N).collect::<Vec<_>>(),
        "each message exactly once"
    );
    assert!(
        per_member.iter().all(|c| *c > 30),
        "spread over members: {per_member:?}"
    );
}

#[tokio::test]
async fn headers_round_trip() {
    let (_server, client) = server_and_client().await;
    let mut sub = client.subscribe("h").await.expect("sub");
    client.flush().await.expect("flush");
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Trace-Id", "abc123");
    client
        .publish_with_headers("h", headers, "body".into())
        .await
        .expect("pub");
    let msg = next(&mut sub).await;
    assert_eq!(msg.payload, "body");
    let got = msg.headers.expect("headers");
    assert_eq!(got.get("Trace-Id").map(|v| v.as_str()), Some("abc123"));
}

/// A server started with `args`: a client connecting with `good` gets through a flush, one
/// connecting with `bad` is refused with an authorization violation.
async fn good_and_bad_credentials(
    args: &[&str],
    good: async_nats::ConnectOptions,
    bad: async_nats::ConnectOptions,
) {
    let server = TestServer::start(args);
    common::assert_login(&server.url(), good, bad).await;
}

#[tokio::test]
async fn user_password_authentication() {
    use async_nats::ConnectOptions;
    good_and_bad_credentials(
        &["--user", "alice", "--pass", "s3cret"],
        ConnectOptions::with_user_and_password("alice".into(), "s3cret".into()),
        ConnectOptions::with_user_and_password("alice".into(), "nope".into()),
    )
    .await;
}

#[tokio::test]
async fn token_authentication() {
    use async_nats::ConnectOptions;
    good_and_bad_credentials(
        &["--auth", "t0ken"],
        ConnectOptions::with_token("t0ken".into()),
        ConnectOptions::with_token("wrong".into()),
    )
    .await;
}

#[tokio::test]
async fn reconnects_after_the_server_restarts() {
    let dir = common::temp_dir("restart");
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        probe.local_addr().expect("addr").port()
    };
    let port_arg = port.to_string();
    let first = TestServer::start(&["-p", &port_arg]);
    assert_eq!(first.port, port);
    let client = async_nats::ConnectOptions::new()
        .reconnect_delay_callback(|_| Duration::from_millis(100))
        .connect(first.url())
        .await
        .expect("connect");
    let mut sub = client.subscribe("again").await.expect("sub");
    client.flush().await.expect("flush");
    drop(first);
    let _second = TestServer::start(&["-p", &port_arg]);
    // The client re-subscribes on reconnect; publish until the message makes it through.
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let _ = client.publish("again", "back".into()).await;
        if let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(200), sub.next()).await {
            assert_eq!(msg.payload, "back");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no message after restart"
        );
    }
    let _ = dir;
}

/// async-nats clients of two accounts: the importer receives the exporter's stream under
/// the prefix it chose, and a request in the exporter's space finds no responder from the
/// importer's (the accounts share no subjects).
#[tokio::test]
async fn async_nats_clients_in_two_accounts_share_only_what_is_imported() {
    use async_nats::ConnectOptions;
    let server = TestServer::with_config(
        "accounts {\n  A { users: [{user: a, password: a}], exports: [{stream: \"ticks.>\"}] }\n  B { users: [{user: b, password: b}], imports: [{stream: {account: A, subject: \"ticks.>\"}, prefix: a}] }\n}\n",
        &[],
    );
    let login = |user: &str| ConnectOptions::with_user_and_password(user.into(), user.into());
    let a = login("a").connect(server.url()).await.expect("connect a");
    let b = login("b").connect(server.url()).await.expect("connect b");
    // async-nats' flush only writes out; it does not wait for the server. Order on each
    // connection is what the test relies on: B's `ticks.>` comes before its import's SUB,
    // A's `svc` before its publishes, so once an imported message arrives both are in place.
    let mut own = b.subscribe("ticks.>").await.expect("subscribe");
    let mut imported = b.subscribe("a.ticks.>").await.expect("subscribe");
    let _service = a.subscribe("svc").await.expect("subscribe");
    let deadline = tokio::time::Instant::now() + WAIT;
    let msg = loop {
        a.publish("ticks.1", "t".into()).await.expect("publish");
        a.flush().await.expect("flush");
        if let Ok(Some(msg)) =
            tokio::time::timeout(Duration::from_millis(200), imported.next()).await
        {
            break msg;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no imported message"
        );
    };
    assert_eq!(
        (msg.subject.as_str(), &msg.payload[..]),
        ("a.ticks.1", &b"t"[..])
    );
    // B's own `ticks.>` is another subject space: A's messages are not in it.
    let nothing = tokio::time::timeout(Duration::from_millis(300), own.next()).await;
    assert!(nothing.is_err(), "got {nothing:?}");
    // A's `svc` is registered by now, and still not a responder for B.
    let err = b
        .request("svc", "q".into())
        .await
        .expect_err("no responder in B");
    assert_eq!(err.kind(), async_nats::RequestErrorKind::NoResponders);
}

/// async-nats requests from B reach A's service through a service import, and the service
/// sees B as the requester in `Nats-Request-Info`.
#[tokio::test]
async fn async_nats_requests_cross_accounts_through_a_service_import() {
    use async_nats::ConnectOptions;
    let server = TestServer::with_config(
        "accounts {\n  A { users: [{user: a, password: a}], exports: [{service: \"math.>\"}] }\n  B { users: [{user: b, password: b}], imports: [{service: {account: A, subject: \"math.double\"}, to: double}] }\n}\n",
        &[],
    );
    let login = |user: &str| ConnectOptions::with_user_and_password(user.into(), user.into());
    let a = login("a").connect(server.url()).await.expect("connect a");
    let b = login("b").connect(server.url()).await.expect("connect b");
    let mut requests = a.subscribe("math.>").await.expect("subscribe");
    let service = tokio::spawn(async move {
        let mut seen = Vec::new();
        // Bounded: the test makes three requests at most (one may race the SUB).
        for _ in 0..3 {
            let Ok(Some(req)) = tokio::time::timeout(T, requests.next()).await else {
                break;
            };
            let info = req
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Request-Info"))
                .map(|v| v.as_str().to_string());
            seen.push((req.subject.to_string(), info));
            let n: u64 = std::str::from_utf8(&req.payload)
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            if let Some(reply) = req.reply {
                a.publish(reply, (n * 2).to_string().into())
                    .await
                    .expect("respond");
                a.flush().await.expect("flush");
            }
            if n == 21 {
                break;
            }
        }
        seen
    });
    // A's SUB may not be in place when the first request arrives: retry until answered.
    let deadline = tokio::time::Instant::now() + WAIT;
    let answer = loop {
        match tokio::time::timeout(Duration::from_secs(1), b.request("double", "21".into())).await {
            Ok(Ok(answer)) => break answer,
            _ => assert!(tokio::time::Instant::now() < deadline, "no answer"),
        }
    };
    assert_eq!(&answer.payload[..], b"42");
    let seen = tokio::time::timeout(T, service)
        .await
        .expect("service done")
        .expect("service task");
    let (subject, info) = seen.last().cloned().expect("a request");
    assert_eq!(subject, "math.double");
    let info = info.expect("Nats-Request-Info header");
    assert!(info.starts_with(r#"{"acc":"B","rtt":"#), "{info}");
}
