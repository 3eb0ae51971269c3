//! What a control plane and its endpoints say to each other over the control
//! session: an fsec1 direct session on the control plane's own port (path
//! [`CONTROL_PATH`]), with RPC both ways. The endpoint calls [`REGISTER`]
//! once per session; the control plane calls [`GRANT`] for every client
//! that asks for that endpoint, and answers the client only once the
//! endpoint has taken the grant.

use corridor_core::grant::ChannelInitGrant;
use serde::{Deserialize, Serialize};

/// The WebSocket path endpoints open their control session on.
pub const CONTROL_PATH: &str = "/v1/endpoint";
/// The channel id both ends bind into the control session's handshake.
pub const CONTROL_CHANNEL_ID: &str = "corridor-control";
/// The control session's `channel_init_expire_at_unix_s`: the session is
/// authenticated by its PSK alone and may be opened at any time.
pub const CONTROL_INIT_EXP: i64 = 4_000_000_000;

/// Endpoint -> control plane: serve clients under this id.
pub const REGISTER: u32 = 1001;
/// Control plane -> endpoint: attach to this channel as its server.
pub const GRANT: u32 = 1002;

/// Longest endpoint id accepted (as flowersec bounds channel ids).
pub const MAX_ENDPOINT_ID_BYTES: usize = 256;

/// The [`REGISTER`] request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Register {
    /// Which clients this endpoint serves: those asking for this id.
    pub endpoint_id: String,
}

/// The [`GRANT`] request: the server half of a freshly minted channel.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantPush {
    /// The grant to attach with.
    pub grant: ChannelInitGrant,
}

/// Why an endpoint did not take a grant (the RPC error message).
pub const REFUSED_AT_CAPACITY: &str = "at_capacity";

/// An endpoint id after trimming, or why it is not one.
pub fn endpoint_id(raw: &str) -> Result<&str, &'static str> {
    let id = raw.trim();
    if id.is_empty() {
        return Err("endpoint_id is empty");
    }
    if id.len() > MAX_ENDPOINT_ID_BYTES {
        return Err("endpoint_id is longer than 256 bytes");
    }
    Ok(id)
}
