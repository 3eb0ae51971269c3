//! Visitors: each accepted connection is sniffed in its own task (under
//! the listener's deadline and cap), routed to an agent of its host, and
//! spliced to the data connection the agent dials back, after the bytes
//! read while sniffing.

use crate::agents::AgentLink;
use crate::dialback::DataConnection;
use crate::sniff::{Protocol, SniffError, Sniffed, sniff};
use crate::state::Shared;
use base64::Engine as _;
use corridor::carrier::Connection;
use corridor::listener::{Accepted, HandshakeError, Listener};
use corridor::peer::Address;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::AsyncWriteExt as _;

/// Source addresses tracked by the rate limit before idle ones are dropped.
const MAX_TRACKED_SOURCES: usize = 100_000;

/// New connections per source IP, or none when the limit is off.
fn source_limiter(limits: &crate::Limits) -> Option<DefaultKeyedRateLimiter<IpAddr>> {
    let rate = NonZeroU32::new(limits.per_ip_rate)?;
    let burst = NonZeroU32::new(limits.per_ip_burst).unwrap_or(rate);
    Some(RateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

pub(crate) async fn serve(shared: Arc<Shared>, listener: Listener, protocol: Protocol) {
    let port = match listener.local_addr() {
        Address::Tcp(addr) => addr.port(),
        _ => 0,
    };
    let limiter = source_limiter(&shared.config.limits);
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        if let (Some(limiter), Some(Address::Tcp(source))) = (&limiter, &accepted.info().remote) {
            if limiter.len() > MAX_TRACKED_SOURCES {
                limiter.retain_recent();
            }
            if limiter.check_key(&source.ip()).is_err() {
                shared.metrics.visitor(protocol.name(), "rate_limited");
                continue;
            }
        }
        let task_shared = shared.clone();
        shared
            .tasks
            .spawn(visit(task_shared, accepted, protocol, port));
    }
}

/// How a visit ended, for metrics and logs.
type Outcome = &'static str;

/// The agent's connection ended while it was asked to dial back.
const AGENT_GONE: Outcome = "agent_gone";
/// The agent is gone or has too many visitors waiting.
const AGENT_BUSY: Outcome = "agent_busy";

/// A visitor's address and the address it reached (for PROXY headers).
struct Addrs {
    client: String,
    server: String,
}

async fn visit(shared: Arc<Shared>, accepted: Accepted, protocol: Protocol, port: u16) {
    let started = Instant::now();
    let tcp = |address: &Option<Address>| match address {
        Some(Address::Tcp(addr)) => addr.to_string(),
        _ => String::new(),
    };
    let addrs = Addrs {
        client: tcp(&accepted.info().remote),
        server: tcp(&accepted.info().local),
    };
    let max = shared.config.limits.preamble_bytes;
    let sniffed = accepted
        .handshake(|mut visitor: Connection| async move {
            match sniff(&mut visitor.io, protocol, max).await {
                Ok(sniffed) => Ok((sniffed, visitor)),
                Err(error) => Err((error, visitor)),
            }
        })
        .await;
    let outcome = match sniffed {
        Ok(((sniffed, visitor), _slot)) => {
            shared.metrics.sniffed(started.elapsed());
            route(&shared, sniffed, visitor, protocol, port, addrs).await
        }
        Err(HandshakeError::Failed((error, mut visitor))) => {
            let status = match error {
                SniffError::NoHost | SniffError::Malformed(_) | SniffError::TooLarge => {
                    "400 Bad Request"
                }
                SniffError::Closed | SniffError::Io(_) => "",
            };
            answer(&mut visitor, protocol, status).await;
            error.reason()
        }
        Err(error) => error.reason(),
    };
    shared.metrics.visitor(protocol.name(), outcome);
    tracing::debug!(listener = protocol.name(), outcome, "visitor done");
}

/// A short HTTP answer on the plain port; TLS visitors are just closed
/// (anything but a ServerHello would be noise to their client).
async fn answer(visitor: &mut Connection, protocol: Protocol, status: &str) {
    if protocol != Protocol::Http || status.is_empty() {
        return;
    }
    let body = format!("{status}\n");
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // Best effort: the visitor may be gone.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        let _ = visitor.io.write_all(response.as_bytes()).await;
        let _ = visitor.io.shutdown().await;
    })
    .await;
}

async fn route(
    shared: &Arc<Shared>,
    sniffed: Sniffed,
    mut visitor: Connection,
    protocol: Protocol,
    port: u16,
    addrs: Addrs,
) -> Outcome {
    let Sniffed { host, preamble } = sniffed;
    // An agent that is leaving (its connection ends, or its queue refuses)
    // passes the visitor to the next one, each agent tried at most once.
    let mut tries = shared.agents.count(&host);
    let dialed = loop {
        let Some(agent) = shared.agents.pick(&host) else {
            let (status, outcome) = if shared.store.contains(&host) {
                ("502 Bad Gateway", "no_agent")
            } else {
                ("404 Not Found", "unknown_host")
            };
            answer(&mut visitor, protocol, status).await;
            return outcome;
        };
        tries = tries.saturating_sub(1);
        match dial_back(shared, &agent, &host, port, &addrs).await {
            Err(AGENT_GONE | AGENT_BUSY) if tries > 0 => continue,
            dialed => break dialed,
        }
    };
    let DataConnection {
        connection: mut data,
        slot: _data_slot,
    } = match dialed {
        Ok(data) => data,
        Err(outcome) => {
            answer(&mut visitor, protocol, "502 Bad Gateway").await;
            return outcome;
        }
    };
    if data.io.write_all(&preamble).await.is_err() {
        return "agent_closed";
    }
    let spliced = tokio::select! {
        spliced = corridor::builtin::splice(&mut visitor.io, &mut data.io) => spliced,
        _ = shared.hard_stop.cancelled() => return "drained",
    };
    match spliced {
        Ok((inbound, outbound)) => {
            let inbound = inbound + preamble.len() as u64;
            shared.metrics.spliced(&host, inbound, outbound);
            "spliced"
        }
        Err(_) => "splice_error",
    }
}

/// Notifies `agent` and waits for its data connection.
async fn dial_back(
    shared: &Arc<Shared>,
    agent: &AgentLink,
    host: &str,
    port: u16,
    addrs: &Addrs,
) -> Result<DataConnection, Outcome> {
    let limits = &shared.config.limits;
    let (secret, mut ticket) = shared
        .dialbacks
        .expect(agent.id, limits.max_pending_per_agent)
        .map_err(|_| AGENT_BUSY)?;
    let notification = corridor::jsonrpc::request(
        "proxy.connect",
        serde_json::json!({
            "secret": base64::engine::general_purpose::STANDARD.encode(secret),
            "host": host,
            "port": port,
            "data_addr": shared.data_addr,
            "client_addr": addrs.client,
            "server_addr": addrs.server,
        }),
        None,
    );
    if !agent.notify(notification) {
        return Err(AGENT_BUSY);
    }
    let asked = Instant::now();
    let answered = tokio::select! {
        answered = tokio::time::timeout(limits.dialback_timeout, &mut ticket.connection) => answered,
        // Its API connection ended with our request unread: it is leaving.
        _ = agent.gone() => return Err(AGENT_GONE),
    };
    match answered {
        Ok(Ok(data)) => {
            shared.metrics.dialed_back(asked.elapsed());
            Ok(data)
        }
        Ok(Err(_)) => Err("agent_closed"),
        Err(_) => Err("dialback_timeout"),
    }
}
