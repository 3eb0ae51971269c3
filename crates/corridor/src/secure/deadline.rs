//! A deadline that slides with activity, for the secure stream's keepalive
//! and idle timers.
//!
//! Moving a tokio timer on every record takes the timer wheel's lock and
//! relinks the entry: measured at about 5% of a small IPC call's CPU. Here
//! activity only stamps the time; the timer, when it fires, moves itself to
//! the stamped deadline if that lies later. A deadline is still exact: it
//! fires `period` after the last activity, never before.

use std::future::Future as _;
use std::pin::Pin;
use std::task::Context;
use std::time::Duration;
use tokio::time::{Instant, Sleep};

pub(crate) struct SlidingDeadline {
    period: Duration,
    last_activity: Instant,
    timer: Pin<Box<Sleep>>,
}

impl SlidingDeadline {
    pub(crate) fn new(period: Duration) -> Self {
        SlidingDeadline {
            period,
            last_activity: Instant::now(),
            timer: Box::pin(tokio::time::sleep(period)),
        }
    }

    pub(crate) fn period(&self) -> Duration {
        self.period
    }

    /// Activity now: the deadline is `period` from here.
    pub(crate) fn touch(&mut self) {
        self.last_activity = Instant::now();
    }

    /// Whether `period` has passed since the last activity; if not, `cx` is
    /// woken when it may have.
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let due = self.last_activity + self.period;
            if due <= Instant::now() {
                return true;
            }
            self.timer.as_mut().reset(due);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Poll;

    fn expired(deadline: &mut SlidingDeadline) -> bool {
        let poll = std::future::poll_fn(|cx| Poll::Ready(deadline.poll_expired(cx)));
        futures_util::FutureExt::now_or_never(poll).expect("ready at once")
    }

    #[tokio::test(start_paused = true)]
    async fn fires_a_period_after_the_last_activity_and_not_before() {
        let period = Duration::from_secs(10);
        let mut deadline = SlidingDeadline::new(period);
        tokio::time::advance(Duration::from_secs(6)).await;
        deadline.touch();
        tokio::time::advance(Duration::from_secs(6)).await;
        // The timer set at the start has fired; the activity moved the deadline.
        assert!(
            !expired(&mut deadline),
            "12 s after start, 6 s after activity"
        );
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(!expired(&mut deadline), "9 s after activity");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(expired(&mut deadline), "10 s after activity");
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_task_is_woken_at_the_moved_deadline() {
        let mut deadline = SlidingDeadline::new(Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(4)).await;
        deadline.touch();
        let started = Instant::now();
        std::future::poll_fn(|cx| {
            if deadline.poll_expired(cx) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }
}
