//! Protocol errors, and what the server must do about each of them.
//!
//! nats-server 2.9 reacts to a broken input in one of two ways: it sends a `-ERR '<text>'` line
//! and closes, or it closes without a word (and only logs). Every [`ProtoError`] maps to one of
//! the two through [`ProtoError::close`], so the connection code never guesses.

use std::fmt;

/// The exact `-ERR` texts nats-server 2.9.10 sends to clients, without the quotes.
pub mod text {
    /// Unknown verb, a bad byte inside a verb, or a payload not followed by CR LF (closes).
    pub const UNKNOWN_PROTOCOL_OPERATION: &str = "Unknown Protocol Operation";
    /// Bad credentials, or anything but `CONNECT` while authentication is pending (closes).
    pub const AUTHORIZATION_VIOLATION: &str = "Authorization Violation";
    /// No successful `CONNECT` within the authentication timeout (closes).
    pub const AUTHENTICATION_TIMEOUT: &str = "Authentication Timeout";
    /// The user JWT expired while connected (operator mode).
    pub const USER_AUTHENTICATION_EXPIRED: &str = "User Authentication Expired";
    /// An announced payload larger than `max_payload` (closes).
    pub const MAXIMUM_PAYLOAD_VIOLATION: &str = "Maximum Payload Violation";
    /// Control line arguments longer than `max_control_line` (closes).
    pub const MAXIMUM_CONTROL_LINE_EXCEEDED: &str = "maximum control line exceeded";
    /// `max_connections` reached; sent after the INFO (closes).
    pub const MAXIMUM_CONNECTIONS_EXCEEDED: &str = "maximum connections exceeded";
    /// `CONNECT` with a `protocol` other than 0 or 1 (closes).
    pub const INVALID_CLIENT_PROTOCOL: &str = "invalid client protocol";
    /// `no_responders` asked for without `headers` (closes).
    pub const NO_RESPONDERS_REQUIRES_HEADERS: &str = "no responders requires headers support";
    /// Too many server PINGs left unanswered (closes).
    pub const STALE_CONNECTION: &str = "Stale Connection";
    /// A client `CONNECT` (one with `lang`) on the cluster port (closes).
    pub const ATTEMPTED_TO_CONNECT_TO_ROUTE_PORT: &str = "attempted to connect to route port";
    /// TLS handshake did not complete in time (closes).
    pub const SECURE_CONNECTION_TLS_REQUIRED: &str = "Secure Connection - TLS Required";
    /// `SUB` with an invalid subject (connection stays).
    pub const INVALID_SUBJECT: &str = "Invalid Subject";
    /// Pedantic `PUB` to a subject that is not a valid literal (connection stays).
    pub const INVALID_PUBLISH_SUBJECT: &str = "Invalid Publish Subject";
    /// `max_subscriptions` reached (connection stays).
    pub const MAXIMUM_SUBSCRIPTIONS_EXCEEDED: &str = "maximum subscriptions exceeded";
    /// Route-side answer to an `RS+` with an invalid subject (route stays).
    pub const INVALID_SUBSCRIPTION: &str = "Invalid Subscription";
}

/// How a connection ends after a protocol error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// Send `-ERR '<text>'`, flush, then close.
    WithErr(&'static str),
    /// Close without sending anything (nats-server only logs these).
    Silently,
}

/// A violation of the wire protocol found while decoding.
///
/// Every variant ends the connection; [`ProtoError::close`] says whether with an `-ERR` line.
/// The `String`s carry the text nats-server logs, built only on this error path.
#[derive(Debug)]
pub enum ProtoError {
    /// Unknown verb, bad byte in a verb, missing blank after a verb, or a payload not
    /// followed by exactly CR LF. Carries a printable snippet of the offending bytes.
    UnknownOperation(String),
    /// Anything but `CONNECT` arrived while authentication is pending.
    AuthorizationViolation,
    /// Control line arguments longer than the limit.
    MaxControlLine {
        /// Argument bytes seen so far.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// Announced payload larger than the limit (checked before the payload is buffered).
    MaxPayload {
        /// Announced size (total size for messages with headers).
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// Wrong argument count or a bad size token; carries nats-server's log text,
    /// e.g. `processPub Parse Error: "foo"`.
    Arguments(String),
    /// `HPUB` on a connection that did not negotiate headers.
    HeadersNotSupported,
    /// A JSON body (`CONNECT`, `INFO`) that does not decode; carries the decoder's message.
    Json(String),
    /// The transport failed underneath the codec.
    Io(std::io::Error),
}

impl ProtoError {
    /// What the server must do: which `-ERR` to send before closing, or close silently.
    pub fn close(&self) -> Close {
        match self {
            ProtoError::UnknownOperation(_) => Close::WithErr(text::UNKNOWN_PROTOCOL_OPERATION),
            ProtoError::AuthorizationViolation => Close::WithErr(text::AUTHORIZATION_VIOLATION),
            ProtoError::MaxControlLine { .. } => {
                Close::WithErr(text::MAXIMUM_CONTROL_LINE_EXCEEDED)
            }
            ProtoError::MaxPayload { .. } => Close::WithErr(text::MAXIMUM_PAYLOAD_VIOLATION),
            ProtoError::Arguments(_)
            | ProtoError::HeadersNotSupported
            | ProtoError::Json(_)
            | ProtoError::Io(_) => Close::Silently,
        }
    }

    /// Builds an [`ProtoError::UnknownOperation`] quoting at most 32 bytes of `bytes`.
    pub(crate) fn unknown(bytes: &[u8]) -> ProtoError {
        let shown = &bytes[..bytes.len().min(32)];
        ProtoError::UnknownOperation(format!("{:?}", String::from_utf8_lossy(shown)))
    }
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::UnknownOperation(snippet) => {
                write!(f, "Client parser ERROR: proto={snippet}")
            }
            ProtoError::AuthorizationViolation => f.write_str("authentication error"),
            ProtoError::MaxControlLine { len, max } => write!(
                f,
                "maximum control line exceeded: max_control_line {max}, line len {len}"
            ),
            ProtoError::MaxPayload { size, max } => {
                write!(f, "maximum payload exceeded: {size} vs {max}")
            }
            ProtoError::Arguments(text) | ProtoError::Json(text) => f.write_str(text),
            ProtoError::HeadersNotSupported => f.write_str("message headers not supported"),
            ProtoError::Io(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for ProtoError {}

impl From<std::io::Error> for ProtoError {
    fn from(err: std::io::Error) -> Self {
        ProtoError::Io(err)
    }
}
