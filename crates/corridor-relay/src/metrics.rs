//! The relay's Prometheus metrics: flowersec v1's `flowersec_tunnel_*` names,
//! so existing dashboards keep working, and corridor's own under `corridor_relay_*`.
//!
//! Counting never stops; [`Metrics::set_enabled`] only decides whether
//! `/metrics` answers (SIGUSR1) or is a 404 (SIGUSR2).

use corridor_core::close::{Rejection, Teardown};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttachLabels {
    result: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabel {
    direction: &'static str,
}

/// Where forwarded bytes went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the server endpoint to the client endpoint.
    ToClient,
    /// From the client endpoint to the server endpoint.
    ToServer,
}

/// The relay's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    enabled: AtomicBool,
    connections: Gauge,
    channels: Gauge,
    attach: Family<AttachLabels, Counter>,
    replace: Family<ResultLabel, Counter>,
    close: Family<ReasonLabel, Counter>,
    pair_latency: Histogram,
    encrypted: Counter,
    queued_bytes: Gauge,
    resource_exhausted: Family<LimitLabel, Counter>,
    forwarded_bytes: Family<DirectionLabel, Counter>,
    // Resolved once: the forwarding path must not look labels up per message.
    forwarded_to_client: Counter,
    forwarded_to_server: Counter,
    key_reloads: Family<ResultLabel, Counter>,
    http_rejected: Family<ReasonLabel, Counter>,
    compactions: Counter,
    replay_entries: Gauge,
    replay_bytes: Gauge,
    handshaking: Gauge,
}

impl Metrics {
    /// Fresh metrics; `/metrics` answers only if `enabled`.
    pub fn new(enabled: bool) -> Self {
        let mut registry = Registry::default();
        let m = Self {
            registry: Registry::default(),
            enabled: AtomicBool::new(enabled),
            connections: Gauge::default(),
            channels: Gauge::default(),
            attach: Family::default(),
            replace: Family::default(),
            close: Family::default(),
            // Prometheus' default buckets, as flowersec v1, plus sub-millisecond
            // ones: pairing on one machine takes well under 5 ms.
            pair_latency: Histogram::new([
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0, 10.0,
            ]),
            encrypted: Counter::default(),
            queued_bytes: Gauge::default(),
            resource_exhausted: Family::default(),
            forwarded_bytes: Family::default(),
            forwarded_to_client: Counter::default(),
            forwarded_to_server: Counter::default(),
            key_reloads: Family::default(),
            http_rejected: Family::default(),
            compactions: Counter::default(),
            replay_entries: Gauge::default(),
            replay_bytes: Gauge::default(),
            handshaking: Gauge::default(),
        };
        registry.register(
            "flowersec_tunnel_connections",
            "Current websocket connection count",
            m.connections.clone(),
        );
        registry.register(
            "flowersec_tunnel_channels",
            "Current active channel count",
            m.channels.clone(),
        );
        registry.register(
            "flowersec_tunnel_attach",
            "Tunnel attach attempts by result and reason",
            m.attach.clone(),
        );
        registry.register(
            "flowersec_tunnel_replace",
            "Tunnel replace outcomes",
            m.replace.clone(),
        );
        registry.register(
            "flowersec_tunnel_close",
            "Tunnel close reasons",
            m.close.clone(),
        );
        registry.register(
            "flowersec_tunnel_pair_latency_seconds",
            "Latency from first endpoint arrival to channel pairing",
            m.pair_latency.clone(),
        );
        registry.register(
            "flowersec_tunnel_encrypted",
            "Channels that reached encrypted record state",
            m.encrypted.clone(),
        );
        registry.register(
            "flowersec_tunnel_queued_bytes",
            "Current pending and write-queued bytes across all tenants",
            m.queued_bytes.clone(),
        );
        registry.register(
            "flowersec_tunnel_resource_exhausted",
            "Tunnel queue resource exhaustion events",
            m.resource_exhausted.clone(),
        );
        registry.register(
            "corridor_relay_forwarded_bytes",
            "Bytes forwarded between endpoints, by direction",
            m.forwarded_bytes.clone(),
        );
        registry.register(
            "corridor_relay_key_reloads",
            "Issuer key reloads by result",
            m.key_reloads.clone(),
        );
        registry.register(
            "corridor_relay_http_rejected",
            "HTTP requests refused before any WebSocket upgrade, by reason",
            m.http_rejected.clone(),
        );
        registry.register(
            "corridor_relay_compactions",
            "Connections of quiet channels whose WebSocket buffers were given back",
            m.compactions.clone(),
        );
        registry.register(
            "corridor_relay_replay_entries",
            "Spent tokens the single-use cache holds until they expire",
            m.replay_entries.clone(),
        );
        registry.register(
            "corridor_relay_replay_bytes",
            "Bytes the single-use cache's tables take (bounded by --max-replay-bytes)",
            m.replay_bytes.clone(),
        );
        registry.register(
            "corridor_relay_handshaking",
            "Connections in their TLS or HTTP phase, before the upgrade (bounded by --max-handshaking-conns)",
            m.handshaking.clone(),
        );
        let forwarded_to_client = m
            .forwarded_bytes
            .get_or_create(&DirectionLabel {
                direction: "to_client",
            })
            .clone();
        let forwarded_to_server = m
            .forwarded_bytes
            .get_or_create(&DirectionLabel {
                direction: "to_server",
            })
            .clone();
        Self {
            registry,
            forwarded_to_client,
            forwarded_to_server,
            ..m
        }
    }

    /// Whether `/metrics` answers.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Turns `/metrics` on or off.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub(crate) fn connection_opened(&self) {
        self.connections.inc();
    }

    pub(crate) fn connection_closed(&self) {
        self.connections.dec();
    }

    pub(crate) fn set_channels(&self, count: usize) {
        self.channels.set(count as i64);
    }

    pub(crate) fn attach_ok(&self) {
        self.attach
            .get_or_create(&AttachLabels {
                result: "ok",
                reason: "ok",
            })
            .inc();
    }

    pub(crate) fn attach_failed(&self, rejection: Rejection) {
        self.attach_failed_reason(rejection.reason());
    }

    pub(crate) fn attach_failed_reason(&self, reason: &'static str) {
        self.attach
            .get_or_create(&AttachLabels {
                result: "fail",
                reason,
            })
            .inc();
    }

    pub(crate) fn replaced(&self, ok: bool) {
        let result = if ok { "ok" } else { "rate_limited" };
        self.replace.get_or_create(&ResultLabel { result }).inc();
    }

    pub(crate) fn closed(&self, teardown: Teardown) {
        let reason = teardown.reason();
        self.close.get_or_create(&ReasonLabel { reason }).inc();
    }

    pub(crate) fn paired(&self, latency: std::time::Duration) {
        self.pair_latency.observe(latency.as_secs_f64());
    }

    pub(crate) fn encrypted(&self) {
        self.encrypted.inc();
    }

    /// Reserves `bytes` of the global queue budget; false (and nothing
    /// reserved) if that would pass `max` (0: no budget).
    pub(crate) fn reserve_queued(&self, bytes: usize, max: usize) -> bool {
        let bytes = bytes as i64;
        // The gauge is the budget's counter: one atomic add per frame.
        let total = self.queued_bytes.inc_by(bytes) + bytes;
        if max != 0 && total > max as i64 {
            self.queued_bytes.dec_by(bytes);
            self.resource_exhausted
                .get_or_create(&LimitLabel {
                    limit: "total_queued_bytes",
                })
                .inc();
            return false;
        }
        true
    }

    /// Whether `bytes` more would still fit the global budget `max` (0: no budget).
    pub(crate) fn queue_has_room(&self, bytes: usize, max: usize) -> bool {
        max == 0 || self.queued_bytes.get().saturating_add(bytes as i64) <= max as i64
    }

    pub(crate) fn release_queued(&self, bytes: usize) {
        if bytes > 0 {
            self.queued_bytes.dec_by(bytes as i64);
        }
    }

    pub(crate) fn forwarded(&self, direction: Direction, bytes: usize) {
        let counter = match direction {
            Direction::ToClient => &self.forwarded_to_client,
            Direction::ToServer => &self.forwarded_to_server,
        };
        counter.inc_by(bytes as u64);
    }

    pub(crate) fn key_reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.key_reloads
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    pub(crate) fn compacted(&self) {
        self.compactions.inc();
    }

    pub(crate) fn set_handshaking(&self, count: usize) {
        self.handshaking.set(count as i64);
    }

    pub(crate) fn set_replay_usage(&self, usage: crate::ReplayUsage) {
        self.replay_entries.set(usage.entries as i64);
        self.replay_bytes.set(usage.bytes as i64);
    }

    pub(crate) fn http_rejected(&self, reason: &'static str) {
        self.http_rejected
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }
}
