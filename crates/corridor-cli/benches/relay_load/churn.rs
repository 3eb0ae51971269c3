//! Churn: channels opened at a fixed rate for minutes, each carrying one
//! frame each way before both ends drop, with tokens minted fresh (valid
//! 60 s) as a control plane would. What it shows: whether the relay keeps
//! pairing at that rate with no refusal of a fresh token (its single-use
//! cache sized for the rate), and whether memory and open files stay flat
//! once the cache has filled to its steady size (token lifetime plus skew).

use crate::{RelayProcess, Ws, attach_text, cpu_time, fsec_like_record, try_ws_connect};
use corridor_core::Role;
use futures_util::{SinkExt as _, StreamExt as _};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;

/// Token lifetime, as the operator runs it.
const TOKEN_LIFETIME_SECS: i64 = 60;
/// Channels in flight at once at a fixed rate: far more than the rate needs
/// (80 ms of it), so a slow moment is absorbed; few enough that their
/// connections stay under the relay's handshake cap (1,024), so a generator
/// that falls behind shows as a lower rate, not as refusals it caused.
const MAX_IN_FLIGHT: usize = 400;
/// Channels in flight at once when unpaced: enough to keep both cores busy,
/// few enough not to trip the relay's handshake cap (1,024).
const UNPACED_IN_FLIGHT: usize = 64;
/// Time a channel has from its first connect to its last frame.
const CHANNEL_DEADLINE: Duration = Duration::from_secs(10);
/// How often a line of figures is printed.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// What to run.
pub(crate) struct Plan {
    /// Channels per second; 0 opens them as fast as the generator can.
    pub(crate) rate: usize,
    /// Length of the run.
    pub(crate) seconds: u64,
    /// When the "after warm-up" figures are taken.
    pub(crate) warmup: u64,
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    failed: AtomicU64,
    /// Failures by what the relay or the socket said.
    reasons: std::sync::Mutex<BTreeMap<String, u64>>,
}

impl Counts {
    fn failed(&self, reason: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        *self
            .reasons
            .lock()
            .expect("lock")
            .entry(reason)
            .or_default() += 1;
    }
}

/// A sample of the relay process.
struct Sample {
    at: Instant,
    rss_kib: u64,
    fds: usize,
    relay_cpu: Duration,
    own_cpu: Duration,
    ok: u64,
}

impl Sample {
    fn take(relay: &RelayProcess, counts: &Counts) -> Sample {
        Sample {
            at: Instant::now(),
            rss_kib: relay.rss_kib(),
            fds: relay.open_fds(),
            relay_cpu: relay.cpu_time(),
            own_cpu: cpu_time("/proc/self/stat"),
            ok: counts.ok.load(Ordering::Relaxed),
        }
    }
}

pub(crate) async fn run(relay: Arc<RelayProcess>, plan: Plan) {
    let counts = Arc::new(Counts::default());
    let mut tokens = mint_ahead(relay.clone(), plan.rate.max(1_000) * 2);
    let max_in_flight = match plan.rate {
        0 => UNPACED_IN_FLIGHT,
        _ => MAX_IN_FLIGHT,
    };
    let in_flight = Arc::new(Semaphore::new(max_in_flight));
    let rate = match plan.rate {
        0 => "as fast as the generator can".to_owned(),
        rate => format!("{rate} channels/s"),
    };
    println!(
        "churn ({rate} for {} s, tokens valid {TOKEN_LIFETIME_SECS} s, one frame each way per channel):",
        plan.seconds
    );
    println!(
        "  {:>5} {:>9} {:>8} {:>10} {:>6} {:>10} {:>10}",
        "t (s)", "chan/s", "refused", "RSS (KiB)", "fds", "relay CPU", "load CPU"
    );
    let started = Instant::now();
    let end = started + Duration::from_secs(plan.seconds);
    let mut launched = 0u64;
    let mut last = Sample::take(&relay, &counts);
    let first = Sample::take(&relay, &counts);
    let mut warm = None;
    let mut next_report = started + REPORT_EVERY;
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while Instant::now() < end {
        tick.tick().await;
        let due = match plan.rate {
            0 => u64::MAX,
            rate => (started.elapsed().as_secs_f64() * rate as f64) as u64,
        };
        while launched < due {
            let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                break;
            };
            let Some((channel, pair)) = tokens.recv().await else {
                return;
            };
            launched += 1;
            let relay = relay.clone();
            let counts = counts.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(CHANNEL_DEADLINE, one_channel(&relay, &channel, pair))
                    .await
                {
                    Ok(Ok(())) => {
                        counts.ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Err(reason)) => counts.failed(reason),
                    Err(_) => counts.failed("channel deadline".into()),
                }
                drop(permit);
            });
        }
        if warm.is_none() && started.elapsed() >= Duration::from_secs(plan.warmup) {
            warm = Some(Sample::take(&relay, &counts));
        }
        if Instant::now() >= next_report {
            next_report += REPORT_EVERY;
            let now = Sample::take(&relay, &counts);
            report_line(&last, &now, started, &counts);
            last = now;
        }
    }
    // Let the last channels finish.
    let _ = tokio::time::timeout(
        Duration::from_secs(15),
        in_flight.acquire_many(max_in_flight as u32),
    )
    .await;
    let end = Sample::take(&relay, &counts);
    summary(&relay, &counts, &first, warm.as_ref(), &end, plan);
}

fn report_line(last: &Sample, now: &Sample, started: Instant, counts: &Counts) {
    let window = now.at.duration_since(last.at).as_secs_f64();
    println!(
        "  {:>5.0} {:>9.0} {:>8} {:>10} {:>6} {:>9.0}% {:>9.0}%",
        now.at.duration_since(started).as_secs_f64(),
        (now.ok - last.ok) as f64 / window,
        counts.failed.load(Ordering::Relaxed),
        now.rss_kib,
        now.fds,
        (now.relay_cpu - last.relay_cpu).as_secs_f64() * 100.0 / window,
        (now.own_cpu - last.own_cpu).as_secs_f64() * 100.0 / window,
    );
}

fn summary(
    relay: &RelayProcess,
    counts: &Counts,
    first: &Sample,
    warm: Option<&Sample>,
    end: &Sample,
    plan: Plan,
) {
    let ok = counts.ok.load(Ordering::Relaxed);
    let failed = counts.failed.load(Ordering::Relaxed);
    let elapsed = end.at.duration_since(first.at).as_secs_f64();
    println!("  channels completed                {ok:9}");
    println!(
        "  channels per second (whole run)   {:9.0}",
        ok as f64 / elapsed
    );
    println!("  channels failed                   {failed:9}");
    for (reason, count) in counts.reasons.lock().expect("lock").iter() {
        println!("    {count:7}  {reason}");
    }
    for reason in ["token_replay", "replay_cache_full"] {
        let series =
            format!("flowersec_tunnel_attach_total{{result=\"fail\",reason=\"{reason}\"}}");
        println!("  relay refusals {reason:18} {:9.0}", relay.metric(&series));
    }
    println!(
        "  replay cache at the end           {:9.0} entries, {:.1} MiB",
        relay.metric("corridor_relay_replay_entries"),
        relay.metric("corridor_relay_replay_bytes") / (1024.0 * 1024.0)
    );
    println!(
        "  relay RSS at start                {:9} KiB, {} fds",
        first.rss_kib, first.fds
    );
    match warm {
        Some(warm) => {
            println!(
                "  relay RSS after {:3} s warm-up     {:9} KiB, {} fds",
                plan.warmup, warm.rss_kib, warm.fds
            );
            let channels = end.ok - warm.ok;
            let growth_kib = end.rss_kib as f64 - warm.rss_kib as f64;
            println!(
                "  relay RSS at the end              {:9} KiB, {} fds",
                end.rss_kib, end.fds
            );
            println!(
                "  RSS growth after warm-up          {:9.0} KiB over {channels} channels ({:.3} MiB per 10,000)",
                growth_kib,
                growth_kib / 1024.0 / (channels.max(1) as f64 / 10_000.0)
            );
        }
        None => println!("  (the run ended before the warm-up did)"),
    }
    let window = end.at.duration_since(first.at).as_secs_f64();
    println!(
        "  CPU over the run: relay {:.0}%, load generator {:.0}% (of 200% on 2 cores)",
        (end.relay_cpu - first.relay_cpu).as_secs_f64() * 100.0 / window,
        (end.own_cpu - first.own_cpu).as_secs_f64() * 100.0 / window
    );
}

/// Mints token pairs on a thread of its own, `ahead` pairs before they are
/// needed: at most a couple of seconds of a 60-second lifetime.
fn mint_ahead(relay: Arc<RelayProcess>, ahead: usize) -> mpsc::Receiver<(String, [String; 2])> {
    let (tx, rx) = mpsc::channel(ahead);
    std::thread::spawn(move || {
        let mut i = 0u64;
        loop {
            let channel = format!("churn-{i}");
            let pair = relay.token_pair_valid_for(&channel, 60, TOKEN_LIFETIME_SECS);
            if tx.blocking_send((channel, pair)).is_err() {
                return;
            }
            i += 1;
        }
    });
    rx
}

/// One channel: both ends attach, one frame crosses each way, both drop.
async fn one_channel(
    relay: &RelayProcess,
    channel: &str,
    [server_token, client_token]: [String; 2],
) -> Result<(), String> {
    let mut server = try_ws_connect(relay).await?;
    send(
        &mut server,
        attach_text(channel, Role::Server, &server_token),
    )
    .await?;
    let mut client = try_ws_connect(relay).await?;
    send(
        &mut client,
        attach_text(channel, Role::Client, &client_token),
    )
    .await?;
    send(&mut client, Message::binary(fsec_like_record())).await?;
    let frame = next_frame(&mut server).await?;
    send(&mut server, Message::binary(frame)).await?;
    next_frame(&mut client).await?;
    // Dropped with zero linger: a reset, no TIME_WAIT on either side.
    Ok(())
}

async fn send(ws: &mut Ws, message: Message) -> Result<(), String> {
    ws.send(message).await.map_err(|e| format!("send: {e}"))
}

/// The next data frame, or what the relay said when it closed instead.
async fn next_frame(ws: &mut Ws) -> Result<Vec<u8>, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(bytes))) => return Ok(bytes.to_vec()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(Some(frame)))) => {
                return Err(format!("closed {} {}", u16::from(frame.code), frame.reason));
            }
            other => return Err(format!("read: {other:?}")),
        }
    }
}
