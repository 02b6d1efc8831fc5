//! `nats-pub`: publish a message to a subject.
//!
//! The classic tool of the NATS docs (`nats-pub -s nats://hostC:7222 hello world`), built on
//! the `nats-proto` codecs through `nats-cli`. It connects to the first server of `-s` that
//! accepts it, publishes (`PUB`, or `HPUB` with `-H`), then flushes with `PING`/`PONG` so
//! that exiting cannot lose the message, and only then prints
//! `Published [<subject>] : '<message>'` on stdout. Without a message argument the payload
//! is read from stdin, byte for byte. Failures print one `nats: …` line on stderr and exit 1.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::io::{self, IsTerminal, Read, Write};
use std::process::ExitCode;

use bytes::BytesMut;
use clap::Parser;
use nats_cli::args::ConnectArgs;
use nats_cli::client::FLUSH_TIMEOUT;
use nats_cli::{diag, Client, ClientOptions, Error, ServerPool};
use nats_proto::client::{ClientOp, Publish};
use nats_proto::headers::write_block;
use nats_proto::subject::{is_valid_literal_subject, is_valid_subject};
use nats_proto::Size;

/// The client name servers show for us (nats.go's example uses the same).
const CLIENT_NAME: &str = "NATS Sample Publisher";

/// Publish a message to a NATS subject.
#[derive(Parser, Debug)]
#[command(name = "nats-pub", version)]
struct Args {
    /// `-s`, the TLS flags, `--nkey` and `--creds`.
    #[command(flatten)]
    connect: ConnectArgs,

    /// Reply subject to send with the message.
    #[arg(short = 'r', long = "reply", value_name = "SUBJECT")]
    reply: Option<String>,

    /// Header to send (repeatable); the message then goes out as HPUB.
    #[arg(short = 'H', long = "header", value_name = "KEY:VALUE")]
    headers: Vec<String>,

    /// Publish the message this many times.
    #[arg(short = 'n', long = "count", value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,

    /// Subject to publish to.
    subject: String,

    /// The message; read from stdin when left out.
    message: Option<String>,
}

/// Why the tool stops with a failure.
enum Failure {
    /// Arguments, connection or publishing failed.
    Nats(Error),
    /// Reading stdin or writing stdout failed.
    Io(&'static str, io::Error),
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure::Nats(err)
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Nats(err)) => {
            diag!("{err}");
            ExitCode::FAILURE
        }
        Err(Failure::Io(what, err)) => {
            diag!("nats-pub: cannot {what}: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Failure> {
    // Everything the user typed is checked before stdin is read or a server is contacted.
    if !is_valid_publish_subject(&args.subject) {
        return Err(Error::InvalidSubject(args.subject.clone()).into());
    }
    if let Some(reply) = &args.reply {
        if !is_valid_publish_subject(reply) {
            return Err(Error::InvalidReply(reply.clone()).into());
        }
    }
    let headers = args
        .headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<Result<Vec<_>, _>>()?;
    let (pool, options) = args
        .connect
        .client_setup(CLIENT_NAME, env!("CARGO_PKG_VERSION"))?;

    let body = match &args.message {
        Some(message) => message.as_bytes().to_vec(),
        None => read_stdin()?,
    };
    let shown = String::from_utf8_lossy(&body).into_owned();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| Failure::Io("start the async runtime", err))?;
    runtime.block_on(publish(&args, pool, options, &headers, &body))?;

    let mut out = io::stdout().lock();
    for _ in 0..args.count {
        writeln!(out, "Published [{}] : '{shown}'", args.subject)
            .map_err(|err| Failure::Io("write to stdout", err))?;
    }
    out.flush()
        .map_err(|err| Failure::Io("write to stdout", err))
}

/// Connects, publishes `args.count` times and flushes.
async fn publish(
    args: &Args,
    pool: ServerPool,
    options: ClientOptions,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<(), Error> {
    let mut client = Client::connect(pool, options).await?;
    if !headers.is_empty() && !client.info().headers {
        return Err(Error::HeadersNotSupported);
    }

    let mut payload = BytesMut::new();
    let header_size = if headers.is_empty() {
        None
    } else {
        let entries: Vec<(&[u8], &[u8])> = headers
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
            .collect();
        Some(write_block(&mut payload, None, &entries))
    };
    payload.extend_from_slice(body);

    // The server would close the connection over an oversized payload; say why instead.
    let max = client.info().max_payload;
    let too_big = max > 0 && i64::try_from(payload.len()).map_or(true, |len| len > max);
    if too_big || u32::try_from(payload.len()).is_err() {
        return Err(Error::MaxPayload {
            size: payload.len(),
            max,
        });
    }
    let header_size = header_size.map(|n| Size::new(n as u32));
    let message = Publish::new(
        args.subject.as_bytes(),
        args.reply.as_deref().map(str::as_bytes),
        header_size,
        &payload,
    );
    for _ in 0..args.count {
        client.feed(ClientOp::Pub(message.clone())).await?;
    }
    client.flush(FLUSH_TIMEOUT).await
}

/// A subject one may publish to: valid, and without wildcard tokens (a server in pedantic
/// mode rejects those, and in normal mode they would only reach wildcard subscribers).
fn is_valid_publish_subject(subject: &str) -> bool {
    is_valid_subject(subject.as_bytes()) && is_valid_literal_subject(subject.as_bytes())
}

/// `key:value` from `-H`: the key is visible ASCII without `:`, the value is trimmed and may
/// not contain line breaks (they would end the header line on the wire).
fn parse_header(text: &str) -> Result<(String, String), Error> {
    let invalid = || Error::InvalidHeader(text.to_string());
    let (key, value) = text.split_once(':').ok_or_else(invalid)?;
    let key = key.trim();
    let value = value.trim();
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(invalid());
    }
    if value.contains(['\r', '\n']) {
        return Err(invalid());
    }
    Ok((key.to_string(), value.to_string()))
}

/// The whole of stdin, verbatim (a trailing newline is part of the payload).
fn read_stdin() -> Result<Vec<u8>, Failure> {
    let mut stdin = io::stdin().lock();
    if stdin.is_terminal() {
        diag!("Reading the message from stdin (end with Ctrl-D)...");
    }
    let mut body = Vec::new();
    stdin
        .read_to_end(&mut body)
        .map_err(|err| Failure::Io("read stdin", err))?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use nats_cli::testkit::assert_parses_tls_flags;

    use super::*;

    #[test]
    fn headers_parse_as_key_value() {
        assert_eq!(
            parse_header("Trace-Id: abc 1").ok(),
            Some(("Trace-Id".into(), "abc 1".into()))
        );
        assert_eq!(parse_header("a:b:c").ok(), Some(("a".into(), "b:c".into())));
        assert_eq!(parse_header("k:").ok(), Some(("k".into(), String::new())));
        for bad in ["novalue", ":v", "a b:c", "k:v\r\nX: y"] {
            assert!(parse_header(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn publish_subjects_are_literal() {
        assert!(is_valid_publish_subject("hello"));
        assert!(is_valid_publish_subject("foo.bar"));
        for bad in ["", "foo.*", "foo.>", "a..b", "a b"] {
            assert!(!is_valid_publish_subject(bad), "{bad:?}");
        }
    }

    #[test]
    fn cli_parses_the_documented_flags() {
        let args = Args::try_parse_from([
            "nats-pub", "-s", "h:1", "-r", "inbox", "-H", "a:b", "-H", "c:d", "-n", "3", "hello",
            "world",
        ])
        .expect("valid");
        assert_eq!(args.reply.as_deref(), Some("inbox"));
        assert_eq!(args.headers, ["a:b", "c:d"]);
        assert_eq!(args.count, 3);
        assert_eq!(args.message.as_deref(), Some("world"));
        let args = Args::try_parse_from(["nats-pub", "hello"]).expect("valid");
        assert_eq!(args.message, None);
        assert!(Args::try_parse_from(["nats-pub", "-n", "0", "x", "y"]).is_err());
        assert_parses_tls_flags(&["x", "y"], |argv| {
            Args::try_parse_from(argv).expect("valid").connect
        });
    }
}
