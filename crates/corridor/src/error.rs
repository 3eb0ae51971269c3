//! The errors of connecting and running a session, each with a stable name.

use corridor_core::hello::HelloError;
use corridor_core::negotiate::PrefaceError;
use corridor_core::suite::SecureError;

/// Why a connection, handshake or stream operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not a ws:// or wss:// URL.
    #[error("invalid URL {0:?}")]
    InvalidUrl(String),
    /// The grant or connect info is unusable.
    #[error("invalid grant: {0}")]
    InvalidGrant(&'static str),
    /// TCP or TLS connection failed.
    #[error("connect to {url}: {source}")]
    Connect {
        /// Where we dialled.
        url: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The WebSocket upgrade failed.
    #[error("WebSocket: {0}")]
    WebSocket(String),
    /// The relay or peer closed the carrier with a close frame.
    #[error("closed by peer with {code} {reason:?}")]
    Rejected {
        /// WebSocket close code.
        code: u16,
        /// Close reason (the relay's rejection name, e.g. `invalid_token`).
        reason: String,
    },
    /// The carrier ended during the named stage.
    #[error("connection closed during {0}")]
    Closed(&'static str),
    /// The named stage did not finish in time.
    #[error("{0} timed out")]
    Timeout(&'static str),
    /// The E2EE handshake failed (any suite), or a peer was refused.
    #[error("E2EE handshake: {0}")]
    Handshake(#[from] SecureError),
    /// The peers share no suite.
    #[error("no common suite: offered {offered:?}, accepted {accepted:?}")]
    NoCommonSuite {
        /// What the client offered.
        offered: Vec<String>,
        /// What the endpoint accepts.
        accepted: Vec<String>,
    },
    /// The byte-stream preface was not a corridor preface or did not parse.
    #[error("preface: {0}")]
    Preface(#[from] PrefaceError),
    /// A stream's hello was refused.
    #[error("stream hello: {0}")]
    Hello(#[from] HelloError),
    /// The session is closed.
    #[error("session closed")]
    SessionClosed,
    /// A browser's `Origin` is not on the endpoint's allow list (refused
    /// with 403 before the upgrade).
    #[error("origin {0:?} is not allowed")]
    OriginNotAllowed(String),
    /// The carrier refused what arrived (named: `non_binary_frame`, `record_too_large`).
    #[error("carrier: {0}")]
    Carrier(&'static str),
    /// Other I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// A stable snake_case name for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidUrl(_) => "invalid_url",
            Error::InvalidGrant(_) => "invalid_grant",
            Error::Connect { .. } => "connect_failed",
            Error::WebSocket(_) => "websocket_failed",
            Error::Rejected { .. } => "rejected",
            Error::Closed(_) => "closed",
            Error::Timeout(_) => "timeout",
            Error::Handshake(error) => error.reason(),
            Error::NoCommonSuite { .. } => "no_common_suite",
            Error::Preface(error) => error.reason(),
            Error::Hello(error) => error.reason(),
            Error::SessionClosed => "session_closed",
            Error::OriginNotAllowed(_) => "origin_not_allowed",
            Error::Carrier(name) => name,
            Error::Io(_) => "io",
        }
    }
}

/// Close-frame information a carrier saw, carried inside an `io::Error`.
#[derive(Debug, thiserror::Error)]
#[error("closed by peer with {code} {reason:?}")]
pub struct PeerClosed {
    /// WebSocket close code.
    pub code: u16,
    /// Close reason.
    pub reason: String,
}

/// A carrier's refusal of a message, carried inside an `io::Error`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CarrierError(pub &'static str);

impl CarrierError {
    /// The refusal as an `io::Error`.
    pub fn io(name: &'static str) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, CarrierError(name))
    }
}

/// Lifts an I/O error from the carrier into an [`Error`], keeping a close
/// frame's code and reason and a record failure's name.
pub(crate) fn from_io(error: std::io::Error, stage: &'static str) -> Error {
    let error = match error.downcast::<PeerClosed>() {
        Ok(closed) => {
            return Error::Rejected {
                code: closed.code,
                reason: closed.reason,
            };
        }
        Err(error) => error,
    };
    let error = match error.downcast::<SecureError>() {
        Ok(secure) => return Error::Handshake(secure),
        Err(error) => error,
    };
    let error = match error.downcast::<CarrierError>() {
        Ok(refused) => return Error::Carrier(refused.0),
        Err(error) => error,
    };
    if error.kind() == std::io::ErrorKind::UnexpectedEof {
        return Error::Closed(stage);
    }
    Error::Io(error)
}
