//! The proxy's Prometheus metrics, under `corridor_proxy_*`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VisitorLabels {
    listener: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BytesLabels {
    host: String,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    visitors: Family<VisitorLabels, Counter>,
    bytes: Family<BytesLabels, Counter>,
    data_refused: Family<ReasonLabel, Counter>,
    agents: Gauge,
    sniff: Histogram,
    dialback: Histogram,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::default();
        let visitors = Family::<VisitorLabels, Counter>::default();
        registry.register(
            "corridor_proxy_visitors",
            "Visitor connections by listener (http, tls) and outcome (spliced or why not)",
            visitors.clone(),
        );
        let bytes = Family::<BytesLabels, Counter>::default();
        registry.register(
            "corridor_proxy_bytes",
            "Bytes spliced per host, by direction (in: from visitors, out: to visitors)",
            bytes.clone(),
        );
        let data_refused = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "corridor_proxy_data_refused",
            "Agents' data connections closed without a visitor, by reason",
            data_refused.clone(),
        );
        let agents = Gauge::default();
        registry.register(
            "corridor_proxy_agents_connected",
            "API connections holding at least one subscription",
            agents.clone(),
        );
        // 10 us to about 2.6 s.
        let sniff = Histogram::new(exponential_buckets(0.000_01, 2.0, 19));
        registry.register(
            "corridor_proxy_sniff_seconds",
            "Time from accept to the host being known",
            sniff.clone(),
        );
        let dialback = Histogram::new(exponential_buckets(0.000_05, 2.0, 18));
        registry.register(
            "corridor_proxy_dialback_seconds",
            "Time from notifying an agent to its data connection arriving",
            dialback.clone(),
        );
        Metrics {
            registry,
            visitors,
            bytes,
            data_refused,
            agents,
            sniff,
            dialback,
        }
    }

    pub(crate) fn visitor(&self, listener: &'static str, outcome: &'static str) {
        self.visitors
            .get_or_create(&VisitorLabels { listener, outcome })
            .inc();
    }

    pub(crate) fn visitors(&self, listener: &'static str, outcome: &'static str) -> u64 {
        self.visitors
            .get_or_create(&VisitorLabels { listener, outcome })
            .get()
    }

    pub(crate) fn spliced(&self, host: &str, inbound: u64, outbound: u64) {
        for (direction, count) in [("in", inbound), ("out", outbound)] {
            self.bytes
                .get_or_create(&BytesLabels {
                    host: host.to_owned(),
                    direction,
                })
                .inc_by(count);
        }
    }

    pub(crate) fn data_refused(&self, reason: &'static str) {
        self.data_refused
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub(crate) fn data_refusals(&self, reason: &'static str) -> u64 {
        self.data_refused
            .get_or_create(&ReasonLabel { reason })
            .get()
    }

    pub(crate) fn set_agents(&self, count: usize) {
        self.agents.set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    pub(crate) fn sniffed(&self, took: Duration) {
        self.sniff.observe(took.as_secs_f64());
    }

    pub(crate) fn dialed_back(&self, took: Duration) {
        self.dialback.observe(took.as_secs_f64());
    }

    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
