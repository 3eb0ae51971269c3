//! A node's Prometheus metrics, under `corridor_mesh_*`, served with
//! `/healthz` on the admin listener. Message types are peer-chosen
//! strings: only the first 64 distinct ones get a label of their own, the
//! rest count as `other`, so a peer cannot grow the registry without bound.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::sync::Mutex;

/// Distinct message types given a label of their own.
const MAX_TYPE_LABELS: usize = 64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MessageLabels {
    direction: &'static str,
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

pub(crate) struct Metrics {
    registry: Registry,
    messages: Family<MessageLabels, Counter>,
    drops: Family<ReasonLabel, Counter>,
    handshake_failures: Family<ReasonLabel, Counter>,
    connections: Gauge,
    types: Mutex<HashSet<String>>,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::default();
        let messages = Family::<MessageLabels, Counter>::default();
        registry.register(
            "corridor_mesh_messages",
            "Messages by direction (in: delivered to the handler, out: queued to a peer) and type",
            messages.clone(),
        );
        let drops = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "corridor_mesh_dropped",
            "Messages dropped, by reason (rate_limited, duplicate, unauthorized, spoofed_from, broadcast_full)",
            drops.clone(),
        );
        let handshake_failures = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "corridor_mesh_handshake_failures",
            "Connections that did not become sessions, by reason",
            handshake_failures.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "corridor_mesh_connections",
            "Peers connected now",
            connections.clone(),
        );
        Metrics {
            registry,
            messages,
            drops,
            handshake_failures,
            connections,
            types: Mutex::default(),
        }
    }

    fn type_label(&self, kind: &str) -> String {
        let mut types = self.types.lock().unwrap_or_else(|p| p.into_inner());
        if types.contains(kind) {
            return kind.to_owned();
        }
        if types.len() < MAX_TYPE_LABELS && kind.len() <= 64 {
            types.insert(kind.to_owned());
            return kind.to_owned();
        }
        "other".to_owned()
    }

    pub(crate) fn message(&self, direction: &'static str, kind: &str) {
        let labels = MessageLabels {
            direction,
            r#type: self.type_label(kind),
        };
        self.messages.get_or_create(&labels).inc();
    }

    pub(crate) fn dropped(&self, reason: &str) {
        let labels = ReasonLabel {
            reason: reason.to_owned(),
        };
        self.drops.get_or_create(&labels).inc();
    }

    pub(crate) fn handshake_failed(&self, reason: &str) {
        let labels = ReasonLabel {
            reason: reason.to_owned(),
        };
        self.handshake_failures.get_or_create(&labels).inc();
    }

    pub(crate) fn set_connections(&self, count: usize) {
        self.connections
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
