//! The errors the tools report, worded like nats.go's so the one-line reasons users and scripts
//! know (`nats: no servers available for connection`, `nats: Authorization Violation`) stay
//! the same.

use std::fmt;
use std::time::Duration;

use crate::duration;

/// Why a connection, a publish or a subscription failed. `Display` gives the one line the
/// tools print before exiting non-zero; it always starts with `nats: `.
#[derive(Debug)]
pub enum Error {
    /// No server in the pool could be reached (refused, unreachable, timed out).
    NoServers,
    /// The server answered with `-ERR '<text>'`; carries the text without quotes, verbatim,
    /// because nats.go passes it through unchanged (`nats: Authorization Violation`).
    Server(String),
    /// A server URL that cannot be parsed.
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A subject that is not valid for the operation.
    InvalidSubject(String),
    /// A reply subject that is not a valid literal subject.
    InvalidReply(String),
    /// A queue group name that is empty or contains blanks.
    InvalidQueue(String),
    /// A `-H` value that is not `key:value`.
    InvalidHeader(String),
    /// Headers were asked for but the server does not support them.
    HeadersNotSupported,
    /// The payload is larger than the server's `max_payload`.
    MaxPayload {
        /// Bytes we would send (headers included).
        size: usize,
        /// The server's limit.
        max: i64,
    },
    /// TLS was asked for (`tls://`, a TLS flag) but the server offers none.
    SecureConnectionWanted,
    /// TLS set-up or handshake failed (a certificate file, an untrusted server).
    Tls(String),
    /// `--nkey`/`--creds` cannot be used: an unreadable file, no or an invalid seed in it, a
    /// combination of credentials that is refused. Never carries the seed.
    Credentials(String),
    /// The URL asks for a transport these tools do not speak (`ws://`).
    UnsupportedScheme(String),
    /// The first thing the server sent was not an `INFO` line.
    NoInfo,
    /// Connecting (TCP plus handshake) took longer than allowed.
    ConnectTimeout,
    /// No `PONG` arrived in time for a flush.
    FlushTimeout,
    /// The server closed the connection.
    ConnectionClosed,
    /// The server stopped answering our `PING`s.
    StaleConnection,
    /// A socket error.
    Io(std::io::Error),
    /// The server sent something the codec rejects.
    Protocol(String),
    /// Reconnecting did not succeed within the allowed time.
    GaveUp {
        /// How long reconnects were attempted.
        after: Duration,
        /// The last reason an attempt failed.
        last: Box<Error>,
    },
}

impl Error {
    /// The text after the `nats: ` prefix.
    fn detail(&self) -> String {
        match self {
            Error::NoServers => "no servers available for connection".into(),
            Error::Server(text) => text.clone(),
            Error::BadUrl { url, reason } => format!("invalid server URL {url:?}: {reason}"),
            Error::InvalidSubject(s) => format!("invalid subject {s:?}"),
            Error::InvalidReply(s) => format!("invalid reply subject {s:?}"),
            Error::InvalidQueue(s) => format!("invalid queue group name {s:?}"),
            Error::InvalidHeader(s) => {
                format!("invalid header {s:?} (expected key:value)")
            }
            Error::HeadersNotSupported => "headers not supported by this server".into(),
            Error::MaxPayload { size, max } => {
                format!("maximum payload exceeded ({size} bytes, server allows {max})")
            }
            Error::SecureConnectionWanted => "secure connection not available".into(),
            Error::Tls(text) | Error::Credentials(text) => text.clone(),
            Error::UnsupportedScheme(s) => {
                format!("unsupported URL scheme {s:?} (only nats:// and tls:// are supported)")
            }
            Error::NoInfo => "protocol exception, INFO not received".into(),
            Error::ConnectTimeout => "timeout connecting to server".into(),
            Error::FlushTimeout => "flush timeout".into(),
            Error::ConnectionClosed => "connection closed".into(),
            Error::StaleConnection => "stale connection".into(),
            Error::Io(err) => err.to_string(),
            Error::Protocol(text) => format!("protocol error: {text}"),
            Error::GaveUp { after, last } => format!(
                "gave up reconnecting after {}: {}",
                duration::format(*after),
                last.detail()
            ),
        }
    }

    /// Whether the error only says that a server could not be reached or went away (refused,
    /// timed out, closed, stopped answering). When every server fails, any other error — a server's `-ERR`, a
    /// TLS requirement, something that is not a NATS server — is the more useful reason to
    /// report; nats.go makes the same distinction.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Error::NoServers
                | Error::Io(_)
                | Error::ConnectTimeout
                | Error::ConnectionClosed
                | Error::FlushTimeout
                | Error::StaleConnection
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nats: {}", self.detail())
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::Io(err)
    }
}

impl From<nats_proto::ProtoError> for Error {
    fn from(err: nats_proto::ProtoError) -> Self {
        match err {
            nats_proto::ProtoError::Io(io) => Error::Io(io),
            other => Error::Protocol(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_match_the_go_tools() {
        assert_eq!(
            Error::NoServers.to_string(),
            "nats: no servers available for connection"
        );
        assert_eq!(
            Error::Server("Authorization Violation".into()).to_string(),
            "nats: Authorization Violation"
        );
        let gave_up = Error::GaveUp {
            after: Duration::from_secs(120),
            last: Box::new(Error::NoServers),
        };
        assert_eq!(
            gave_up.to_string(),
            "nats: gave up reconnecting after 2m: no servers available for connection"
        );
    }
}
