//! Keeping a session up: connect again, after a backoff, whenever it ends.
//!
//! Relay tokens are single-use and grants expire, so a session cannot simply
//! be redialled with what opened it: every attempt calls the application's
//! `connect` function, which fetches a fresh grant from its control plane (or
//! dials a direct endpoint again). Between attempts [`Reconnecting`] waits an
//! exponential backoff with jitter, so a fleet of clients cut off together
//! does not come back in lockstep; a session that stayed up long enough starts
//! the backoff over. The handlers of the router in the `SessionOptions` that
//! `connect` uses serve every session.

use crate::error::Error;
use crate::session::Session;
use rand_core::RngCore as _;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long to wait before each new attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
    /// Growth of the wait per consecutive failure.
    pub multiplier: f64,
    /// Fraction of each wait that is random: 0.5 waits between half and all
    /// of it.
    pub jitter: f64,
    /// A session up at least this long resets the backoff: its end is news,
    /// not one more failure in a row.
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.5,
            reset_after: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The wait after `failures` consecutive failures (0: the first), given a
    /// `unit_random` in `[0, 1)`.
    ///
    /// ```
    /// use corridor::reconnect::Backoff;
    /// use std::time::Duration;
    ///
    /// let backoff = Backoff { jitter: 0.0, ..Backoff::default() };
    /// assert_eq!(backoff.delay(0, 0.7), Duration::from_millis(200));
    /// assert_eq!(backoff.delay(3, 0.7), Duration::from_millis(1600));
    /// assert_eq!(backoff.delay(60, 0.7), Duration::from_secs(30));
    /// ```
    pub fn delay(&self, failures: u32, unit_random: f64) -> Duration {
        let growth = self.multiplier.max(1.0).powi(failures.min(64) as i32);
        let full = self.initial.as_secs_f64() * growth;
        let capped = full.min(self.max.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0) * unit_random.clamp(0.0, 1.0);
        // A NaN jitter waits the full delay; a delay past what Duration holds, `max`.
        Duration::try_from_secs_f64(capped * (1.0 - jitter))
            .or_else(|_| Duration::try_from_secs_f64(capped))
            .unwrap_or(self.max)
    }
}

/// Where a [`Reconnecting`] session stands.
#[derive(Clone, Debug)]
pub enum Link {
    /// Attempt `attempt` (from 1) is connecting or waiting its turn; the last
    /// session's end reason or connect error comes with it.
    Connecting {
        /// Attempts so far, this one included.
        attempt: u64,
        /// Why the previous session or attempt ended.
        last_error: Option<String>,
    },
    /// A session is up.
    Up(Arc<Session>),
    /// [`Reconnecting::stop`] was called or the handle dropped.
    Stopped,
}

/// A session kept up by a background task.
///
/// Dropping the handle stops the task and closes the session.
///
/// ```no_run
/// # async fn run(control_plane: std::sync::Arc<impl Fn() -> corridor::ChannelInitGrant + Send + Sync + 'static>) {
/// use corridor::reconnect::{Backoff, Reconnecting};
/// use corridor::{Client, SessionOptions};
///
/// let options = SessionOptions::default();
/// let link = Reconnecting::spawn(
///     move || {
///         // A fresh one-time grant for every attempt.
///         let (grant, options) = (control_plane(), options.clone());
///         async move { Client::connect_tunnel(&grant, &options).await }
///     },
///     Backoff::default(),
/// );
/// let session = link.session().await.expect("not stopped");
/// let answer: serde_json::Value = session.rpc().call(1, &()).await.unwrap();
/// # }
/// ```
#[derive(Debug)]
pub struct Reconnecting {
    link: watch::Receiver<Link>,
    stop: CancellationToken,
}

impl Reconnecting {
    /// Starts connecting with `connect` and keeps a session up until stopped.
    pub fn spawn<F, Fut>(connect: F, backoff: Backoff) -> Reconnecting
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Session, Error>> + Send + 'static,
    {
        let (publish, link) = watch::channel(Link::Connecting {
            attempt: 1,
            last_error: None,
        });
        let stop = CancellationToken::new();
        tokio::spawn(keep_up(connect, backoff, publish, stop.clone()));
        Reconnecting { link, stop }
    }

    /// The session, waiting for one to be up; `None` once stopped.
    pub async fn session(&self) -> Option<Arc<Session>> {
        let mut link = self.link.clone();
        loop {
            match &*link.borrow_and_update() {
                Link::Up(session) if !session.is_closed() => return Some(session.clone()),
                Link::Stopped => return None,
                _ => {}
            }
            if link.changed().await.is_err() {
                return None;
            }
        }
    }

    /// The session if one is up now.
    pub fn current(&self) -> Option<Arc<Session>> {
        match &*self.link.borrow() {
            Link::Up(session) if !session.is_closed() => Some(session.clone()),
            _ => None,
        }
    }

    /// Follows every change: each new session (to subscribe again, say) and
    /// each attempt.
    pub fn watch(&self) -> watch::Receiver<Link> {
        self.link.clone()
    }

    /// Stops reconnecting and closes the session.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for Reconnecting {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn unit_random() -> f64 {
    f64::from(rand_core::OsRng.next_u32()) / (f64::from(u32::MAX) + 1.0)
}

async fn keep_up<F, Fut>(
    mut connect: F,
    backoff: Backoff,
    publish: watch::Sender<Link>,
    stop: CancellationToken,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Session, Error>>,
{
    let mut attempt = 0u64;
    let mut failures = 0u32;
    let mut last_error: Option<String> = None;
    loop {
        attempt += 1;
        publish.send_replace(Link::Connecting {
            attempt,
            last_error: last_error.clone(),
        });
        let connected = tokio::select! {
            _ = stop.cancelled() => break,
            connected = connect() => connected,
        };
        match connected {
            Ok(session) => {
                let session = Arc::new(session);
                let up_since = Instant::now();
                tracing::info!(attempt, "session up");
                publish.send_replace(Link::Up(session.clone()));
                tokio::select! {
                    _ = stop.cancelled() => {
                        session.close().await;
                        break;
                    }
                    _ = session.closed() => {}
                }
                let reason = session.end_reason().unwrap_or("closed").to_owned();
                tracing::info!(%reason, "session ended; reconnecting");
                if up_since.elapsed() >= backoff.reset_after {
                    failures = 0;
                }
                last_error = Some(reason);
            }
            Err(error) => {
                tracing::warn!(attempt, reason = error.reason(), %error, "connect failed");
                last_error = Some(error.to_string());
            }
        }
        let wait = backoff.delay(failures, unit_random());
        failures = failures.saturating_add(1);
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    publish.send_replace(Link::Stopped);
}

#[cfg(test)]
mod tests {
    use super::Backoff;
    use std::time::Duration;

    #[test]
    fn waits_grow_to_the_cap_and_jitter_only_shortens_them() {
        let backoff = Backoff::default();
        let mut previous = Duration::ZERO;
        for failures in 0..20 {
            let longest = backoff.delay(failures, 0.0);
            assert!(longest >= previous, "never shrinks");
            assert!(longest <= backoff.max, "never past the cap");
            let shortest = backoff.delay(failures, 0.999_999);
            assert!(
                shortest >= longest.mul_f64(0.5 - 1e-6),
                "jitter 0.5 keeps half"
            );
            assert!(shortest <= longest);
            previous = longest;
        }
        assert_eq!(previous, backoff.max);
        assert_eq!(backoff.delay(u32::MAX, 0.0), backoff.max);
        let odd = Backoff {
            jitter: f64::NAN,
            max: Duration::MAX,
            ..Backoff::default()
        };
        assert_eq!(odd.delay(3, 0.5), Duration::from_millis(1600));
        assert!(odd.delay(u32::MAX, 0.0) > Duration::from_secs(1 << 40));
    }
}
