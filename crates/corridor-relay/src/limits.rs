//! Every bound the relay enforces, with its default and why.
//!
//! Defaults are flowersec v1's, so a corridor relay can replace a flowersec
//! tunnel without retuning; the buffers that flowersec does not expose are
//! sized for the memory target of an idle channel.

use std::time::Duration;

/// The relay's limits. Each field's flag is `--<field-name-with-dashes>`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Limits {
    /// WebSocket connections, attached or attaching (`--max-conns`). Over it: close
    /// 1013 `too_many_connections`. Metric: `attach_total{reason="too_many_connections"}`.
    pub max_conns: usize,
    /// Channels, paired or waiting (`--max-channels`); flowersec's default of half
    /// the connections, since each channel holds two.
    pub max_channels: usize,
    /// Largest attach message (`--max-attach-bytes`); flowersec's 8 KiB fits a
    /// 2 KiB token with room to spare.
    pub max_attach_bytes: usize,
    /// Largest forwarded message (`--max-record-bytes`); FSEC records are at most 1 MiB.
    /// Over it: close 1009 `record_too_large`.
    pub max_record_bytes: usize,
    /// Bytes a waiting endpoint may send before its peer arrives (`--max-pending-bytes`):
    /// enough for a handshake and a first burst. Over it: `pending_overflow`.
    pub max_pending_bytes: usize,
    /// Bytes read from endpoints but not yet written out, across the relay
    /// (`--max-total-queued-bytes`, alias flowersec's `--max-total-pending-bytes`;
    /// 0 disables). Over it: `resource_exhausted`.
    pub max_total_queued_bytes: usize,
    /// Bytes queued towards one endpoint (`--max-write-queue-bytes`): the relay
    /// reads ahead of a busy destination up to this much, then stops reading
    /// the sender, so a slow reader slows its sender. At least one record.
    pub max_write_queue_bytes: usize,
    /// Memory of the single-use token cache (`--max-replay-bytes`). A token stays
    /// in it until it expires plus the clock skew, at most `max_token_lifetime` +
    /// 2 x `clock_skew` (180 s by default); 64 MiB holds at least 3 million
    /// tokens, 18,000 a second for that long. Full of live entries: attaches
    /// are refused with 1013 `replay_cache_full`, never evicted. Metrics:
    /// `corridor_relay_replay_entries`, `corridor_relay_replay_bytes`,
    /// `flowersec_tunnel_attach_total{reason="replay_cache_full"}`.
    pub max_replay_bytes: usize,
    /// Live tokens in the cache (`--max-replay-entries`, flowersec's flag); no
    /// cap but the bytes by default. Refused the same way as a full cache.
    pub max_replay_entries: Option<usize>,
    /// Time an upgraded connection has to send its attach message (`--attach-timeout`).
    pub attach_timeout: Duration,
    /// Tolerated clock difference with the token issuer (`--clock-skew`).
    pub clock_skew: Duration,
    /// Longest token lifetime `exp - iat` accepted (`--max-token-lifetime`).
    pub max_token_lifetime: Duration,
    /// How far ahead `init_exp` may lie (`--max-init-horizon`).
    pub max_init_horizon: Duration,
    /// How long a write to an endpoint may stall before the channel is closed
    /// with `write_error` (`--write-timeout`).
    pub write_timeout: Duration,
    /// Same-role replacements allowed per channel and role in `replace_window`
    /// (`--max-replaces-per-window`); more are refused with `replace_rate_limited`.
    pub max_replaces_per_window: u32,
    /// The replacement rate window (`--replace-window`).
    pub replace_window: Duration,
    /// Per-connection WebSocket read buffer (`--ws-read-buffer-bytes`): the largest
    /// single socket read. Small, because idle channels dominate relay memory.
    pub ws_read_buffer_bytes: usize,
    /// Read-ahead buffers all connections may hold at once
    /// (`--max-read-ahead-bytes`); past it, connections read in
    /// `ws_read_buffer_bytes` pieces.
    pub max_read_ahead_bytes: usize,
    /// Quiet time after traffic before a channel's connections give back the
    /// buffers a burst grew (`--compact-after`; 0 never): about 64 KiB per
    /// connection and direction after 64 KiB records.
    pub compact_after: Duration,
    /// Time a connection has from accept to its WebSocket upgrade: the TLS
    /// handshake, the HTTP request line and headers (`--http-header-timeout`).
    /// A plain HTTP connection (`/healthz`, `/metrics`) is closed after it too.
    pub http_header_timeout: Duration,
    /// TCP connections still in their TLS or HTTP phase, before any upgrade
    /// (`--max-handshaking-conns`). A new connection past it closes the one
    /// that has waited longest (`corridor_relay_http_rejected{reason="handshake_evicted"}`)
    /// among those whose HTTP request is still incomplete (one being
    /// answered goes only when no other is left),
    /// so slow or idle sockets (slowloris) cannot keep quick clients out,
    /// and cannot pile up in front of the WebSocket connection cap.
    pub max_handshaking_conns: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_conns: 12_000,
            max_channels: 6_000,
            max_attach_bytes: 8 * 1024,
            max_record_bytes: 1024 * 1024,
            max_pending_bytes: 256 * 1024,
            max_total_queued_bytes: 256 * 1024 * 1024,
            max_write_queue_bytes: 1024 * 1024,
            max_replay_bytes: 64 * 1024 * 1024,
            max_replay_entries: None,
            attach_timeout: Duration::from_secs(10),
            clock_skew: Duration::from_secs(30),
            max_token_lifetime: Duration::from_secs(120),
            max_init_horizon: Duration::from_secs(120),
            write_timeout: Duration::from_secs(10),
            max_replaces_per_window: 5,
            replace_window: Duration::from_secs(10),
            ws_read_buffer_bytes: 4 * 1024,
            max_read_ahead_bytes: 64 * 1024 * 1024,
            compact_after: Duration::from_millis(500),
            http_header_timeout: Duration::from_secs(5),
            max_handshaking_conns: 1024,
        }
    }
}

impl Limits {
    /// The clock skew in whole seconds, rounded up as flowersec does.
    pub fn clock_skew_secs(&self) -> i64 {
        let skew = &self.clock_skew;
        (skew.as_secs() + u64::from(skew.subsec_nanos() != 0)) as i64
    }
}
