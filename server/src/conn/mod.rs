//! The connection model shared by clients and routes: what a connection is to the rest of
//! the server ([`ClientShared`]: its outbound buffer, subscriptions, close state, counters),
//! its [`Subscription`]s as the subject index holds them, why it closed ([`CloseReason`]),
//! and its outbound side ([`outbound`]: the buffer producers append to and the one writer
//! task that drains it).
//!
//! A leaf: it uses only the options, the compiled permissions and the counters in
//! [`crate::stats`], never the server, the routes or monitoring.

use std::fmt;

pub mod outbound;
pub mod reader;
mod shared;
mod subscription;

pub use shared::ClientShared;
pub use subscription::Subscription;

/// Why a connection was closed, with nats-server's wording (logs, `/connz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed the connection.
    ClientClosed,
    /// Reading from the socket failed.
    ReadError,
    /// Writing to the socket failed.
    WriteError,
    /// The client broke the protocol.
    ProtocolViolation,
    /// Bad credentials.
    AuthenticationFailure,
    /// No CONNECT within the authentication timeout.
    AuthenticationTimeout,
    /// The user JWT expired (operator mode).
    AuthenticationExpired,
    /// The account's connection limit (its JWT's `conn`) was reached.
    MaxAccountConnectionsExceeded,
    /// A subscription limit of 0 (an account's or a user JWT's): the client may never
    /// subscribe, and nats-server closes it at log-in.
    MaxSubscriptionsExceeded,
    /// Too many unanswered PINGs.
    StaleConnection,
    /// Outbound buffer over `max_pending`.
    SlowConsumerPendingBytes,
    /// A write blocked past the write deadline.
    SlowConsumerWriteDeadline,
    /// Announced payload over `max_payload`.
    MaxPayloadExceeded,
    /// Control line over `max_control_line`.
    MaxControlLineExceeded,
    /// `max_connections` reached.
    MaxConnectionsExceeded,
    /// CONNECT with an unknown protocol version.
    BadClientProtocolVersion,
    /// The server is shutting down.
    ServerShutdown,
    /// A second route to the same server (the other one is kept).
    DuplicateRoute,
    /// The TLS handshake failed or timed out.
    TlsHandshakeFailure,
    /// The connection's task ended without saying why (it panicked): the drop guard closed it.
    InternalError,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CloseReason::ClientClosed => "Client Closed",
            CloseReason::ReadError => "Read Error",
            CloseReason::WriteError => "Write Error",
            CloseReason::ProtocolViolation => "Protocol Violation",
            CloseReason::AuthenticationFailure => "Authentication Failure",
            CloseReason::AuthenticationTimeout => "Authentication Timeout",
            CloseReason::AuthenticationExpired => "Authentication Expired",
            CloseReason::MaxAccountConnectionsExceeded => "Maximum Account Connections Exceeded",
            CloseReason::MaxSubscriptionsExceeded => "Maximum Subscriptions Exceeded",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::SlowConsumerPendingBytes => "Slow Consumer (Pending Bytes)",
            CloseReason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            CloseReason::MaxPayloadExceeded => "Maximum Message Payload Exceeded",
            CloseReason::MaxControlLineExceeded => "Maximum Control Line Exceeded",
            CloseReason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            CloseReason::BadClientProtocolVersion => "Bad Client Protocol Version",
            CloseReason::ServerShutdown => "Server Shutdown",
            CloseReason::DuplicateRoute => "Duplicate Route",
            CloseReason::TlsHandshakeFailure => "TLS Handshake Failure",
            CloseReason::InternalError => "Internal Error",
        })
    }
}

/// What is on the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An application client.
    Client,
    /// Another server of the cluster.
    Router,
}
