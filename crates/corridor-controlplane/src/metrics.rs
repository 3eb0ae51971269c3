//! The control plane's Prometheus metrics, under `corridor_controlplane_*`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// Counters of one control plane.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    artifacts: Family<OutcomeLabel, Counter>,
    endpoints: Gauge,
    push_latency: Histogram,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::default();
        let artifacts = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "corridor_controlplane_artifacts",
            "Connect artifacts and channel inits requested, by outcome (issued or the error code)",
            artifacts.clone(),
        );
        let endpoints = Gauge::default();
        registry.register(
            "corridor_controlplane_endpoints_connected",
            "Endpoint registrations held by live control sessions",
            endpoints.clone(),
        );
        // 100 us to about 3 s.
        let push_latency = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "corridor_controlplane_push_seconds",
            "Time from pushing a server grant to the endpoint taking it",
            push_latency.clone(),
        );
        Metrics {
            registry,
            artifacts,
            endpoints,
            push_latency,
        }
    }

    pub(crate) fn artifact(&self, outcome: &'static str) {
        self.artifacts
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    pub(crate) fn set_endpoints(&self, count: usize) {
        self.endpoints.set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    pub(crate) fn pushed(&self, took: Duration) {
        self.push_latency.observe(took.as_secs_f64());
    }

    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
