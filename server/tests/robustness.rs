//! Bad and heavy traffic: a slow consumer next to a good one, hostile input, many connections,
//! and a long ordered stream. The server must stay up and every well-behaved client must get
//! all its messages, in order.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Raw, TestServer, WAIT};

const QUIET: &str = r#"{"verbose":false,"pedantic":false}"#;

/// Reads `MSG` frames for subject `s` with sid `1` and returns the payloads, in order.
fn read_messages(stream: &mut TcpStream, count: usize, timeout: Duration) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    while out.len() < count && Instant::now() < deadline {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
        // Parse complete frames: MSG <subj> <sid> <size>\r\n<payload>\r\n (PINGs skipped).
        let mut at = 0;
        while let Some(nl) = buf[at..].iter().position(|b| *b == b'\n').map(|p| p + at) {
            let line = String::from_utf8_lossy(&buf[at..nl]).trim_end().to_string();
            if line == "PING" || line == "PONG" {
                at = nl + 1;
                continue;
            }
            let size: usize = line
                .rsplit(' ')
                .next()
                .and_then(|s| s.parse().ok())
                .expect("size");
            if buf.len() < nl + 1 + size + 2 {
                break;
            }
            out.push(buf[nl + 1..nl + 1 + size].to_vec());
            at = nl + 1 + size + 2;
        }
        buf.drain(..at);
    }
    out
}

#[test]
fn slow_consumer_is_cut_off_while_others_get_everything() {
    // A small max_pending makes the slow consumer trip quickly and bounds memory.
    let mut server = TestServer::with_config("max_pending: 2MB\nmax_payload: 64KB\n", &[]);
    let mut slow = Raw::connect_with(server.port, QUIET);
    slow.send(b"SUB flood 1\r\n");
    slow.ping();
    let mut good = Raw::connect_with(server.port, QUIET);
    good.send(b"SUB flood 1\r\n");
    good.ping();
    let rss_before = server.rss_kib().expect("rss");

    const N: usize = 20_000;
    let payload = vec![b'z'; 1024];
    let mut publisher = Raw::connect_with(server.port, QUIET);
    let reader = {
        let mut stream = good.stream.try_clone().expect("clone");
        std::thread::spawn(move || read_messages(&mut stream, N, Duration::from_secs(30)))
    };
    let mut batch = Vec::new();
    for i in 0..N {
        batch.extend_from_slice(b"PUB flood 1024\r\n");
        let mut p = payload.clone();
        p[..8].copy_from_slice(format!("{i:08}").as_bytes());
        batch.extend_from_slice(&p);
        batch.extend_from_slice(b"\r\n");
        if batch.len() > 64 * 1024 {
            publisher.send(&batch);
            batch.clear();
        }
    }
    publisher.send(&batch);
    publisher.ping();

    let got = reader.join().expect("reader");
    assert_eq!(got.len(), N, "the good subscriber gets every message");
    for (i, m) in got.iter().enumerate() {
        assert_eq!(&m[..8], format!("{i:08}").as_bytes(), "in order");
    }
    assert!(server.wait_log(
        "Slow Consumer Detected: MaxPending of 2097152 Exceeded",
        WAIT
    ));
    // The slow consumer was closed without an -ERR.
    let (bytes, closed) = slow.read_for(Duration::from_secs(5));
    assert!(closed, "slow consumer closed");
    assert!(!String::from_utf8_lossy(&bytes).contains("-ERR"));
    let rss_after = server.rss_kib().expect("rss");
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS bounded: {rss_before} -> {rss_after} KiB"
    );
    assert!(server.alive());
}

#[test]
fn hostile_input_never_takes_the_server_down() {
    let mut server = TestServer::start(&[]);
    let mut bystander = Raw::connect_with(server.port, QUIET);
    bystander.send(b"SUB calm 1\r\n");
    bystander.ping();

    // Random bytes.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20 {
        let mut c = Raw::connect(server.port);
        let junk: Vec<u8> = (0..2000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let _ = c.stream.write_all(&junk);
    }
    // A (nearly) 1 GB declared size: refused from the header alone. (Ten digits would be a
    // silent parse-error close, as in nats-server.)
    let mut big = Raw::connect_with(server.port, QUIET);
    big.send(b"PUB foo 999999999\r\n");
    let (got, closed) = big.read_until_closed();
    assert_eq!(got, "-ERR 'Maximum Payload Violation'\r\n");
    assert!(closed);
    // A never-ending control line.
    let mut endless = Raw::connect_with(server.port, QUIET);
    endless.send(b"SUB ");
    let mut closed = false;
    for _ in 0..100 {
        if endless.stream.write_all(&[b'a'; 1000]).is_err() {
            closed = true;
            break;
        }
    }
    let (got, eof) = endless.read_until_closed();
    assert!(closed || eof, "cut off");
    assert!(
        got.is_empty() || got == "-ERR 'maximum control line exceeded'\r\n",
        "{got:?}"
    );
    // Half a frame, then disconnect.
    let mut half = Raw::connect_with(server.port, QUIET);
    half.send(b"PUB calm 100\r\nonly part");
    drop(half);

    assert!(server.alive());
    let mut publisher = Raw::connect_with(server.port, QUIET);
    publisher.send(b"PUB calm 2\r\nok\r\n");
    publisher.ping();
    bystander.expect("MSG calm 1 2\r\nok\r\n");
}

#[test]
fn a_thousand_connections_each_round_trip() {
    let server = TestServer::start(&[]);
    let mut conns = Vec::new();
    for _ in 0..1000 {
        let mut c = Raw::connect_with(server.port, QUIET);
        c.send(b"PING\r\n");
        conns.push(c);
    }
    for c in conns.iter_mut() {
        c.expect("PONG\r\n");
    }
    // Every connection can still publish to the first one.
    conns[0].send(b"SUB all 1\r\n");
    conns[0].ping();
    for c in conns.iter_mut().skip(1).take(100) {
        c.send(b"PUB all 1\r\nx\r\n");
    }
    let expected = "MSG all 1 1\r\nx\r\n".repeat(100);
    conns[0].expect(&expected);
}

#[test]
fn a_hundred_thousand_messages_arrive_complete_and_in_order() {
    let server = TestServer::start(&[]);
    let mut sub = Raw::connect_with(server.port, QUIET);
    sub.send(b"SUB seq 1\r\n");
    sub.ping();
    const N: usize = 100_000;
    let reader = {
        let mut stream = sub.stream.try_clone().expect("clone");
        std::thread::spawn(move || read_messages(&mut stream, N, Duration::from_secs(60)))
    };
    let mut publisher = Raw::connect_with(server.port, QUIET);
    let mut batch = Vec::with_capacity(1 << 20);
    for i in 0..N {
        let body = format!("{i:08}");
        batch.extend_from_slice(format!("PUB seq {}\r\n{body}\r\n", body.len()).as_bytes());
        if batch.len() > 256 * 1024 {
            publisher.send(&batch);
            batch.clear();
        }
    }
    publisher.send(&batch);
    let got = reader.join().expect("reader");
    assert_eq!(got.len(), N);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m, format!("{i:08}").as_bytes());
    }
}
