//! Keepalive on relay channels, derived from the grant as flowersec 0.27
//! derives it: the relay closes a channel that carries nothing for the
//! grant's `idle_timeout_seconds`, so both ends must speak more often than
//! that, whatever the session's fixed defaults say.
//!
//! Two mechanisms run at the derived `interval`: a ping record whenever we
//! have sent nothing for that long (keeps the relay's timer from firing,
//! whatever the peer does), and a yamux ping, which a peer that keeps quiet
//! by choice (a flowersec client with its liveness off) answers. So the peer
//! is heard from at least once an interval, and the session ends when
//! nothing arrived for the interval plus flowersec's answer timeout.

use std::time::Duration;

/// The shortest keepalive interval flowersec derives.
const MIN_INTERVAL: Duration = Duration::from_millis(500);
/// The longest a ping may go unanswered in flowersec's derivation.
const MAX_ANSWER: Duration = Duration::from_secs(10);

/// How a session keeps itself alive on a relay channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Liveness {
    /// From the grant's idle timeout (flowersec's `PathDefault`); the
    /// session's own keepalive settings apply to direct connections.
    #[default]
    FromGrant,
    /// Exactly the session's `secure` and `mux` keepalive settings.
    AsConfigured,
}

/// The keepalive flowersec derives from an idle timeout: a ping every
/// `max(idle / 2, 500 ms)`, answered within `min(interval, 10 s)`.
///
/// ```
/// use corridor::liveness::derive;
/// use std::time::Duration;
/// let (interval, answer) = derive(Duration::from_secs(4));
/// assert_eq!((interval, answer), (Duration::from_secs(2), Duration::from_secs(2)));
/// ```
pub fn derive(idle_timeout: Duration) -> (Duration, Duration) {
    let interval = (idle_timeout / 2).max(MIN_INTERVAL);
    (interval, interval.min(MAX_ANSWER))
}

/// What a relay channel's keepalive should be, for a grant allowing
/// `idle_timeout_seconds` of silence; `None` when the grant sets no idle
/// timeout.
pub(crate) fn for_idle_timeout(idle_timeout_seconds: i32) -> Option<Keepalive> {
    let seconds = u64::try_from(idle_timeout_seconds)
        .ok()
        .filter(|s| *s > 0)?;
    let (interval, answer) = derive(Duration::from_secs(seconds));
    Some(Keepalive {
        interval,
        read_idle_timeout: interval + answer,
    })
}

/// A derived keepalive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Keepalive {
    /// A ping record when nothing was sent for this long, and a yamux ping as often.
    pub(crate) interval: Duration,
    /// End the session when nothing arrived for this long.
    pub(crate) read_idle_timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_follow_flowersec() {
        let cases = [(1, 500, 500), (4, 2_000, 2_000), (60, 30_000, 10_000)];
        for (idle, interval, answer) in cases {
            let derived = derive(Duration::from_secs(idle));
            assert_eq!(
                derived,
                (
                    Duration::from_millis(interval),
                    Duration::from_millis(answer)
                ),
                "idle {idle} s"
            );
        }
    }

    #[test]
    fn grants_without_an_idle_timeout_keep_the_session_settings() {
        assert_eq!(for_idle_timeout(0), None);
        assert_eq!(for_idle_timeout(-1), None);
        let keepalive = for_idle_timeout(4).expect("derived");
        assert_eq!(keepalive.interval, Duration::from_secs(2));
        assert_eq!(keepalive.read_idle_timeout, Duration::from_secs(4));
    }
}
