//! Keepalive on relay channels, derived from the grant as flowersec 0.27
//! derives it: the relay closes a channel that carries nothing for the
//! grant's `idle_timeout_seconds`, so both ends must speak more often than
//! that, whatever the session's fixed defaults say.
//!
//! Two mechanisms run at the derived `interval`: a ping record whenever we
//! have sent nothing for that long (keeps the relay's timer from firing,
//! whatever the peer does), and a wake-up of the yamux driver so the crate's
//! own pings go out. The yamux crate sends its pings on a fixed 10 s cadence
//! and offers no way to send one on demand, so a peer that keeps quiet by
//! choice (a flowersec client with its liveness off) is heard from only in
//! answer to those: the read idle timeout allows for that cadence on top of
//! flowersec's answer timeout, rather than ending a healthy session.

use crate::session::SessionOptions;
use std::borrow::Cow;
use std::time::Duration;

/// The shortest keepalive interval flowersec derives.
const MIN_INTERVAL: Duration = Duration::from_millis(500);
/// The longest a ping may go unanswered in flowersec's derivation.
const MAX_ANSWER: Duration = Duration::from_secs(10);
/// The yamux crate's fixed ping cadence (`rtt::PING_INTERVAL`).
const YAMUX_PING_EVERY: Duration = Duration::from_secs(10);

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

/// `options` adjusted for a relay channel whose grant allows
/// `idle_timeout_seconds` of silence (unchanged when they say
/// [`Liveness::AsConfigured`] or the grant sets no idle timeout).
pub(crate) fn for_grant(
    options: &SessionOptions,
    idle_timeout_seconds: i32,
) -> Cow<'_, SessionOptions> {
    let idle = match u64::try_from(idle_timeout_seconds) {
        Ok(seconds) if seconds > 0 && options.liveness == Liveness::FromGrant => {
            Duration::from_secs(seconds)
        }
        _ => return Cow::Borrowed(options),
    };
    let (interval, answer) = derive(idle);
    let mut options = options.clone();
    options.secure.keepalive_interval = Some(interval);
    options.secure.read_idle_timeout = Some(YAMUX_PING_EVERY + interval + answer);
    options.mux.keepalive_interval = interval;
    Cow::Owned(options)
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
    fn explicit_settings_and_grants_without_idle_timeout_are_left_alone() {
        let options = SessionOptions {
            liveness: Liveness::AsConfigured,
            ..SessionOptions::default()
        };
        assert!(matches!(for_grant(&options, 4), Cow::Borrowed(_)));
        assert!(matches!(
            for_grant(&SessionOptions::default(), 0),
            Cow::Borrowed(_)
        ));
        let defaults = SessionOptions::default();
        let derived = for_grant(&defaults, 4);
        assert_eq!(
            derived.secure.keepalive_interval,
            Some(Duration::from_secs(2))
        );
        assert_eq!(derived.mux.keepalive_interval, Duration::from_secs(2));
    }
}
