//! `nats-sub`: subscribe to a subject and print every message received.
//!
//! The classic tool of the NATS docs (`nats-sub -s nats://hostA:7222 hello`), built on the
//! `nats-proto` codecs through `nats-cli`. Output contract:
//!
//! * stdout: `Listening on [<subject>]`, then `[#N] Received on [<subject>] : '<payload>'` per
//!   message (the gnatsd docs' line; with `--raw`, the payload alone and `Listening on` goes
//!   to stderr so a pipe sees only payloads).
//! * stderr: diagnostics — server errors, `Disconnected due to: …`, `Reconnected [<url>]`,
//!   and the one-line reason before a non-zero exit.
//!
//! When its server goes away it reconnects to another known server (the `-s` list plus the
//! `connect_urls` the cluster announced), subscribes again and keeps counting, for at most
//! `--max-reconnect-time`.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use nats_cli::args::ConnectArgs;
use nats_cli::client::FLUSH_TIMEOUT;
use nats_cli::{diag, duration, Client, Error, Event};
use nats_proto::client::{ClientOp, Message};
use nats_proto::headers::HeaderBlock;
use nats_proto::subject::is_valid_subject;
use tokio::time::Instant;

/// The client name servers show for us (nats.go's example uses the same).
const CLIENT_NAME: &str = "NATS Sample Subscriber";
/// Our one subscription's id.
const SID: &[u8] = b"1";

/// Subscribe to a NATS subject and print the messages it receives.
#[derive(Parser, Debug)]
#[command(name = "nats-sub", version)]
struct Args {
    /// `-s`, the TLS flags, `--nkey` and `--creds`.
    #[command(flatten)]
    connect: ConnectArgs,

    /// Join this queue group: each message goes to one member of the group.
    #[arg(short = 'q', long = "queue", value_name = "GROUP")]
    queue: Option<String>,

    /// Prefix each received line with the local date and time.
    #[arg(short = 't', long = "timestamp")]
    timestamp: bool,

    /// Exit (successfully) after receiving this many messages.
    #[arg(short = 'n', long = "count", value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,

    /// Print only each payload, one per line, for pipes.
    #[arg(long, conflicts_with_all = ["timestamp", "headers"])]
    raw: bool,

    /// Print the headers of messages that carry them, indented under the message line.
    #[arg(long)]
    headers: bool,

    /// Give up after trying to reconnect for this long (e.g. 30s, 2m, 1h).
    #[arg(long = "max-reconnect-time", value_name = "DURATION", default_value = "2m",
          value_parser = duration::parse)]
    max_reconnect_time: Duration,

    /// Subject to subscribe to (wildcards `*` and `>` allowed).
    subject: String,
}

/// Why the tool stops with a failure.
enum Failure {
    /// Connecting, subscribing or reconnecting failed.
    Nats(Error),
    /// Writing to stdout failed.
    Output(io::Error),
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure::Nats(err)
    }
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Self {
        Failure::Output(err)
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            diag!("nats-sub: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Nats(err)) => {
            diag!("{err}");
            ExitCode::FAILURE
        }
        // The reader of a pipe went away (`nats-sub --raw foo | head -1`): nothing more to
        // do, and nothing went wrong on our side.
        Err(Failure::Output(err)) if err.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Output(err)) => {
            diag!("nats-sub: cannot write to stdout: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Failure> {
    if !is_valid_subject(args.subject.as_bytes()) {
        return Err(Error::InvalidSubject(args.subject.clone()).into());
    }
    if let Some(queue) = &args.queue {
        if queue.is_empty() || queue.chars().any(char::is_whitespace) {
            return Err(Error::InvalidQueue(queue.clone()).into());
        }
    }
    let (pool, options) = args
        .connect
        .client_setup(CLIENT_NAME, env!("CARGO_PKG_VERSION"))?;
    let mut client = Client::connect(pool, options).await?;
    let printer = Printer {
        timestamp: args.timestamp,
        raw: args.raw,
        headers: args.headers,
    };

    subscribe(&mut client, &args, 0).await?;
    printer.listening(&args.subject, args.queue.as_deref())?;

    let mut received: u64 = 0;
    loop {
        match client.next_event().await {
            Event::Msg(msg) => {
                received += 1;
                printer.message(received, &msg)?;
                if args.count == Some(received) {
                    return Ok(());
                }
            }
            Event::ServerError(text) => printer.notice(&format!("nats: {text}")),
            Event::LameDuck => printer.notice(&format!(
                "Server [{}] entered lame duck mode and will close soon",
                client.url()
            )),
            Event::Disconnected(reason) => {
                printer.notice(&format!(
                    "Disconnected due to: {reason}, will attempt reconnects for {}",
                    duration::format(args.max_reconnect_time)
                ));
                resume(&mut client, &args, received).await?;
                printer.notice(&format!("Reconnected [{}]", client.url()));
            }
        }
    }
}

/// Reconnects and subscribes again, within `--max-reconnect-time` in total: a server that
/// accepts us and then dies before confirming the subscription just costs another round.
async fn resume(client: &mut Client, args: &Args, received: u64) -> Result<(), Error> {
    let deadline = Instant::now() + args.max_reconnect_time;
    let gave_up = |last: Error| Error::GaveUp {
        after: args.max_reconnect_time,
        last: Box::new(last),
    };
    loop {
        client.reconnect(deadline).await.map_err(gave_up)?;
        match subscribe(client, args, received).await {
            Ok(()) => return Ok(()),
            Err(err) if err.is_unreachable() => {
                if Instant::now() >= deadline {
                    return Err(gave_up(err));
                }
            }
            Err(err) => return Err(err),
        }
    }
}

/// Sends `SUB` (and, with `-n`, `UNSUB <sid> <remaining>` so the server stops delivering to
/// us — and picks other queue members — once we have what we want), then waits for the
/// server to confirm it processed them.
async fn subscribe(client: &mut Client, args: &Args, received: u64) -> Result<(), Error> {
    client
        .feed(ClientOp::Sub {
            subject: Bytes::copy_from_slice(args.subject.as_bytes()),
            queue: args
                .queue
                .as_ref()
                .map(|q| Bytes::copy_from_slice(q.as_bytes())),
            sid: Bytes::from_static(SID),
        })
        .await?;
    if let Some(count) = args.count {
        // Counts beyond u32 cannot be sent; the tool still stops at `count` by itself.
        if let Ok(max) = u32::try_from(count.saturating_sub(received)) {
            client
                .feed(ClientOp::Unsub {
                    sid: Bytes::from_static(SID),
                    max: Some(max),
                })
                .await?;
        }
    }
    client.flush(FLUSH_TIMEOUT).await
}

/// Formats the tool's output lines.
struct Printer {
    timestamp: bool,
    raw: bool,
    headers: bool,
}

impl Printer {
    /// `Listening on [...]`: stdout normally, stderr with `--raw` (stdout is payloads only).
    /// Never timestamped, like the Go tool.
    fn listening(&self, subject: &str, queue: Option<&str>) -> io::Result<()> {
        let line = match queue {
            Some(queue) => format!("Listening on [{subject}], queue group [{queue}]"),
            None => format!("Listening on [{subject}]"),
        };
        if self.raw {
            diag!("{line}");
            Ok(())
        } else {
            let mut out = io::stdout().lock();
            writeln!(out, "{line}")?;
            out.flush()
        }
    }

    /// One received message.
    fn message(&self, n: u64, msg: &Message) -> io::Result<()> {
        let mut out = io::stdout().lock();
        if self.raw {
            out.write_all(msg.body())?;
            out.write_all(b"\n")?;
            return out.flush();
        }
        writeln!(
            out,
            "{}[#{n}] Received on [{}] : '{}'",
            self.prefix(),
            String::from_utf8_lossy(msg.subject()),
            String::from_utf8_lossy(msg.body())
        )?;
        if self.headers && msg.header_size().is_some() {
            for line in header_lines(msg) {
                writeln!(out, "  {line}")?;
            }
        }
        out.flush()
    }

    /// A diagnostic on stderr, timestamped with `-t` like the received lines.
    fn notice(&self, text: &str) {
        diag!("{}{text}", self.prefix());
    }

    fn prefix(&self) -> String {
        if self.timestamp {
            chrono::Local::now()
                .format("%Y/%m/%d %H:%M:%S ")
                .to_string()
        } else {
            String::new()
        }
    }
}

/// The header block of a message as `Name: Value` lines (a status, if any, as
/// `Status: 503 No Responders`). A block that does not parse is shown line by line as is:
/// the server relays header bytes unchecked, and seeing them beats hiding them.
fn header_lines(msg: &Message) -> Vec<String> {
    let block = Bytes::copy_from_slice(msg.headers());
    match HeaderBlock::parse(&block) {
        Ok(parsed) => {
            let mut lines = Vec::with_capacity(parsed.entries.len() + 1);
            if let Some(status) = parsed.status {
                let description = String::from_utf8_lossy(&parsed.description);
                lines.push(
                    format!("Status: {status} {description}")
                        .trim_end()
                        .to_string(),
                );
            }
            lines.extend(parsed.entries.iter().map(|(name, value)| {
                format!(
                    "{}: {}",
                    String::from_utf8_lossy(name),
                    String::from_utf8_lossy(value)
                )
            }));
            lines
        }
        Err(_) => String::from_utf8_lossy(&block)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use nats_cli::testkit::assert_parses_tls_flags;

    use super::*;

    #[test]
    fn header_lines_show_entries_and_status() {
        let block = b"NATS/1.0\r\nA: B\r\nTrace-Id: x\r\n\r\n";
        let mut payload = block.to_vec();
        payload.extend_from_slice(b"body");
        let msg = Message::new(
            b"foo",
            b"1",
            None,
            Some(nats_proto::Size::new(block.len() as u32)),
            &payload,
        );
        assert_eq!(header_lines(&msg), ["A: B", "Trace-Id: x"]);

        let status = nats_proto::headers::NO_RESPONDERS;
        let msg = Message::new(
            b"r",
            b"1",
            None,
            Some(nats_proto::Size::new(status.len() as u32)),
            status,
        );
        assert_eq!(header_lines(&msg), ["Status: 503"]);
    }

    #[test]
    fn cli_parses_the_documented_flags() {
        let args = Args::try_parse_from([
            "nats-sub",
            "-s",
            "nats://a:1, nats://b:2",
            "-q",
            "workers",
            "-t",
            "-n",
            "3",
            "--headers",
            "--max-reconnect-time",
            "5s",
            "hello",
        ])
        .expect("valid");
        assert_eq!(args.queue.as_deref(), Some("workers"));
        assert_eq!(args.count, Some(3));
        assert_eq!(args.max_reconnect_time, Duration::from_secs(5));
        assert!(Args::try_parse_from(["nats-sub", "--raw", "-t", "x"]).is_err());
        assert!(Args::try_parse_from(["nats-sub", "-n", "0", "x"]).is_err());
        assert!(Args::try_parse_from(["nats-sub"]).is_err());
        assert_parses_tls_flags(&["x"], |argv| {
            Args::try_parse_from(argv).expect("valid").connect
        });
    }
}
