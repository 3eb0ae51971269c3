//! The services every corridor endpoint can offer out of the box: `ping`,
//! `echo`, `info` and `whoami` RPC, `echo` streams, and forwarding a stream
//! kind to a local TCP port. `corridor serve` and `corridor ipc serve` run
//! them; applications may too. [`splice`] joins two connections both ways,
//! for that forwarding and for the ingress proxy.

use crate::Stream;
use crate::peer::Peer;
use crate::rpc::{Call, Failure, Router};
use crate::session::Session;
use corridor_core::suite::PeerIdentity;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// `type_id` of `ping`: answers `{"pong": true}`.
pub const PING: u32 = 1;
/// `type_id` of `echo`: answers its payload.
pub const ECHO: u32 = 2;
/// `type_id` of `info`: answers what the endpoint offers.
pub const INFO: u32 = 3;
/// `type_id` of `whoami`: answers who the caller is to this endpoint (its
/// proven identity, address, Unix credentials, executable digest).
pub const WHOAMI: u32 = 4;
/// The stream kind that echoes what it receives.
pub const ECHO_STREAM: &str = "echo";

/// The built-in method for a name, or a number given as text.
///
/// ```
/// assert_eq!(corridor::builtin::type_id("ping"), Some(1));
/// assert_eq!(corridor::builtin::type_id("42"), Some(42));
/// assert_eq!(corridor::builtin::type_id("nope"), None);
/// ```
pub fn type_id(name: &str) -> Option<u32> {
    match name {
        "ping" => Some(PING),
        "echo" => Some(ECHO),
        "info" => Some(INFO),
        "whoami" => Some(WHOAMI),
        other => other.parse().ok(),
    }
}

/// What `ping` answers.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Pong {
    /// Always true.
    pub pong: bool,
}

/// What `info` reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Info {
    /// The software answering.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Stream kinds the endpoint accepts.
    pub streams: Vec<String>,
}

/// `router` with `ping`, `echo`, `info` and `whoami` added.
pub fn register(router: Router, info: Info) -> Router {
    let info = Arc::new(info);
    router
        .handle(PING, |_: Value| async {
            Ok::<_, Failure>(Pong { pong: true })
        })
        .handle(
            ECHO,
            |payload: Value| async move { Ok::<_, Failure>(payload) },
        )
        .handle(INFO, move |_: Value| {
            let info = info.clone();
            async move { Ok::<_, Failure>((*info).clone()) }
        })
        .handle(WHOAMI, |call: Call, _: Value| async move {
            Ok::<_, Failure>(whoami(call.peer()))
        })
}

/// The caller as this endpoint sees it.
fn whoami(peer: &Peer) -> Value {
    let identity = match &peer.identity {
        PeerIdentity::ChannelPsk { channel_id } => json!({ "channel": channel_id }),
        PeerIdentity::StaticKey(key) => {
            json!({ "public_key": key.to_b64u(), "fingerprint": key.fingerprint() })
        }
        other => json!({ "other": format!("{other:?}") }),
    };
    let connection = &peer.connection;
    let mut answer = json!({
        "suite": peer.suite.wire_name(),
        "identity": identity,
        "remote": connection.remote.as_ref().map(ToString::to_string),
        "unix": connection.unix.map(|c| json!({ "uid": c.uid, "gid": c.gid, "pid": c.pid })),
    });
    #[cfg(target_os = "linux")]
    if let Some(executable) = connection
        .process
        .as_ref()
        .and_then(|p| p.executable.as_ref())
    {
        answer["executable"] =
            json!({ "sha256": hex(&executable.sha256), "path": executable.path });
    }
    if let Some(leaf) = connection
        .tls
        .as_ref()
        .and_then(|tls| tls.client_certificates.first())
    {
        let digest = ring::digest::digest(&ring::digest::SHA256, leaf);
        answer["tls"] = json!({ "client_certificate_sha256": hex(digest.as_ref()) });
    }
    answer
}

/// Lower-case hex, as `sha256sum` prints a digest.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where each forwarded stream kind goes: `kind -> host:port`.
pub type Forwards = Arc<HashMap<String, String>>;

/// Serves a session's inbound streams until it ends: `echo` streams echo, a
/// forwarded kind is piped to its TCP address, anything else is reset.
pub async fn serve_streams(session: &Session, forwards: Forwards) {
    while let Ok(stream) = session.accept_stream().await {
        let forwards = forwards.clone();
        tokio::spawn(async move {
            let kind = stream.kind().to_owned();
            let outcome = match forwards.get(&kind) {
                Some(target) => forward(stream, target).await,
                None if kind == ECHO_STREAM => echo(stream).await,
                None => Ok(()),
            };
            if let Err(error) = outcome {
                tracing::debug!(%kind, %error, "stream ended with an error");
            }
        });
    }
}

/// How much an echo stream reads before it writes back: a stream's window,
/// so what arrived together goes back as one frame and one record.
/// (`tokio::io::copy`'s 8 KiB sent a 64 MiB echo back as 8,000 records, and a
/// browser pays for every WebSocket message it receives.)
const ECHO_BUFFER_BYTES: usize = 256 * 1024;

/// Echoes a stream until the peer's FIN, then sends FIN.
pub async fn echo(stream: Stream) -> std::io::Result<()> {
    let (reader, mut writer) = tokio::io::split(stream);
    let mut reader = tokio::io::BufReader::with_capacity(ECHO_BUFFER_BYTES, reader);
    tokio::io::copy_buf(&mut reader, &mut writer).await?;
    writer.shutdown().await
}

/// Bytes moved per read, each way, by [`splice`]: a read that takes what the
/// socket holds goes out as one frame and one record, for the reason
/// [`echo`] gives (the proxy measured tokio's 8 KiB default at a third less
/// bulk throughput).
const SPLICE_BUFFER_BYTES: usize = 64 * 1024;

/// Copies `a` to `b` and `b` to `a` until both directions end, passing a
/// half-close on one side to the other; the byte counts of each direction.
///
/// ```
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let (mut near, mut a) = tokio::io::duplex(1024);
/// let (mut b, mut far) = tokio::io::duplex(1024);
/// let pipe = tokio::spawn(async move { corridor::builtin::splice(&mut a, &mut b).await });
/// near.write_all(b"ping").await.unwrap();
/// near.shutdown().await.unwrap();
/// let mut got = Vec::new();
/// far.read_to_end(&mut got).await.unwrap();
/// assert_eq!(got, b"ping");
/// drop(far);
/// assert_eq!(pipe.await.unwrap().unwrap().0, 4);
/// # });
/// ```
pub async fn splice<A, B>(a: &mut A, b: &mut B) -> std::io::Result<(u64, u64)>
where
    A: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + ?Sized,
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + ?Sized,
{
    tokio::io::copy_bidirectional_with_sizes(a, b, SPLICE_BUFFER_BYTES, SPLICE_BUFFER_BYTES).await
}

/// Pipes a stream to a TCP connection to `target`, both ways, half-closing each
/// direction when its source ends.
pub async fn forward(mut stream: Stream, target: &str) -> std::io::Result<()> {
    let mut tcp = tokio::net::TcpStream::connect(target).await?;
    tcp.set_nodelay(true)?;
    splice(&mut stream, &mut tcp).await?;
    Ok(())
}
