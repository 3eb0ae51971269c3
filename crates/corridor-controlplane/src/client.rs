//! The client side of the API: ask a control plane for a connect artifact
//! and take the tunnel grant out of it (`corridor call --controlplane`).
//! flowersec's own client (`controlplane::client`) works against the same
//! API; this one is here so corridor's tools need no HTTP stack of their own
//! beyond hyper, which the services already use.

use crate::ARTIFACT_PATH;
use bytes::Bytes;
use corridor_core::grant::ChannelInitGrant;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use std::time::Duration;

/// flowersec's bound on a response body.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Why no grant came back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Not an `http://HOST:PORT` URL.
    #[error(
        "control plane URL {0:?}: expected http://HOST:PORT (https is not supported by this client yet)"
    )]
    InvalidUrl(String),
    /// Connecting or the HTTP exchange failed.
    #[error("control plane request: {0}")]
    Transport(String),
    /// No answer within the timeout.
    #[error("control plane request timed out")]
    Timeout,
    /// The control plane refused, with flowersec's error envelope.
    #[error("control plane refused with {status} {code}: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The envelope's code (`endpoint_not_connected`, `unauthorized`, ...).
        code: String,
        /// The envelope's message.
        message: String,
    },
    /// The answer is not a tunnel artifact.
    #[error("control plane answer: {0}")]
    InvalidResponse(String),
}

#[derive(Deserialize)]
struct Envelope {
    connect_artifact: Artifact,
}

#[derive(Deserialize)]
struct Artifact {
    transport: String,
    tunnel_grant: Option<ChannelInitGrant>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

/// Asks the control plane at `base_url` for a channel to `endpoint_id` and
/// returns the client's grant.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use corridor::{Client, SessionOptions};
/// let grant = corridor_controlplane::client::request_grant(
///     "http://127.0.0.1:8090", "files", None, std::time::Duration::from_secs(10)).await?;
/// let session = Client::connect_tunnel(&grant, &SessionOptions::default()).await?;
/// # Ok(()) }
/// ```
pub async fn request_grant(
    base_url: &str,
    endpoint_id: &str,
    bearer: Option<&str>,
    timeout: Duration,
) -> Result<ChannelInitGrant, ClientError> {
    tokio::time::timeout(timeout, request(base_url, endpoint_id, bearer))
        .await
        .map_err(|_| ClientError::Timeout)?
}

async fn request(
    base_url: &str,
    endpoint_id: &str,
    bearer: Option<&str>,
) -> Result<ChannelInitGrant, ClientError> {
    let invalid = || ClientError::InvalidUrl(base_url.to_owned());
    let base: Uri = base_url
        .trim()
        .trim_end_matches('/')
        .parse()
        .map_err(|_| invalid())?;
    if base.scheme_str() != Some("http") || !matches!(base.path(), "" | "/") {
        return Err(invalid());
    }
    let authority = base.authority().ok_or_else(invalid)?.clone();
    let port = authority.port_u16().unwrap_or(80);
    let tcp = tokio::net::TcpStream::connect((authority.host(), port))
        .await
        .map_err(|error| ClientError::Transport(format!("connect {authority}: {error}")))?;
    let _ = tcp.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|error| ClientError::Transport(error.to_string()))?;
    tokio::spawn(connection);
    let body = serde_json::json!({ "endpoint_id": endpoint_id }).to_string();
    let mut builder = Request::post(ARTIFACT_PATH)
        .header(HOST, authority.as_str())
        .header(CONTENT_TYPE, "application/json");
    if let Some(token) = bearer {
        builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|error| ClientError::Transport(error.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| ClientError::Transport(error.to_string()))?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|error| ClientError::Transport(error.to_string()))?
        .to_bytes();
    if !status.is_success() {
        return Err(match serde_json::from_slice::<ErrorEnvelope>(&body) {
            Ok(envelope) => ClientError::Refused {
                status: status.as_u16(),
                code: envelope.error.code,
                message: envelope.error.message,
            },
            Err(_) => ClientError::Refused {
                status: status.as_u16(),
                code: String::new(),
                message: String::from_utf8_lossy(&body).trim().to_owned(),
            },
        });
    }
    let envelope: Envelope = serde_json::from_slice(&body)
        .map_err(|error| ClientError::InvalidResponse(error.to_string()))?;
    match envelope.connect_artifact {
        Artifact {
            tunnel_grant: Some(grant),
            ..
        } => Ok(grant),
        Artifact { transport, .. } => Err(ClientError::InvalidResponse(format!(
            "a {transport:?} artifact, not a tunnel grant"
        ))),
    }
}
