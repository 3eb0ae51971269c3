//! Timers for tasks that poll them on every wake-up: the session driver's
//! keepalive tick and the secure stream's keepalive and idle deadlines.
//!
//! Polling a tokio timer re-registers the task's waker and spends a unit of
//! the task's cooperative budget, and moving one takes the timer wheel's
//! lock. Per small message that measured at 2 to 5% of an IPC call's CPU.
//! So a [`LazyTimer`] is not polled again while it holds this task's waker
//! and has not fired, and a [`SlidingDeadline`] only stamps the time of
//! activity: its timer, when it fires, moves itself to the stamped deadline
//! if that lies later. A deadline is still exact: it fires `period` after
//! the last activity, never before.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Waker};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// A tokio timer polled only when it may have fired.
pub(crate) struct LazyTimer {
    sleep: Pin<Box<Sleep>>,
    /// The waker the timer holds, once polled.
    registered: Option<Waker>,
}

impl LazyTimer {
    pub(crate) fn new(deadline: Instant) -> Self {
        LazyTimer {
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            registered: None,
        }
    }

    /// Moves the timer; the next poll registers it again.
    pub(crate) fn reset(&mut self, deadline: Instant) {
        self.sleep.as_mut().reset(deadline);
        self.registered = None;
    }

    /// Whether the timer has fired; if not, `cx` is woken when it does.
    pub(crate) fn poll_fired(&mut self, cx: &mut Context<'_>) -> bool {
        let holds_this_waker = self
            .registered
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()));
        if holds_this_waker && !self.sleep.is_elapsed() {
            return false;
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            return true;
        }
        if !holds_this_waker {
            self.registered = Some(cx.waker().clone());
        }
        false
    }
}

/// A deadline `period` after the last activity.
pub(crate) struct SlidingDeadline {
    period: Duration,
    last_activity: Instant,
    timer: LazyTimer,
}

impl SlidingDeadline {
    pub(crate) fn new(period: Duration) -> Self {
        let now = Instant::now();
        SlidingDeadline {
            period,
            last_activity: now,
            timer: LazyTimer::new(now + period),
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
        while self.timer.poll_fired(cx) {
            let due = self.last_activity + self.period;
            if due <= Instant::now() {
                return true;
            }
            self.timer.reset(due);
        }
        false
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
    async fn a_lazy_timer_polled_again_by_its_task_still_fires_once_due() {
        let mut timer = LazyTimer::new(Instant::now() + Duration::from_secs(5));
        let started = Instant::now();
        let mut polls = 0;
        let fired = std::future::poll_fn(|cx| {
            polls += 1;
            // Woken for nothing in between: the skipped polls must not
            // lose the registration.
            if polls < 4 {
                cx.waker().wake_by_ref();
            }
            if timer.poll_fired(cx) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        });
        // A timer that lost its registration would never wake the task.
        tokio::time::timeout(Duration::from_secs(60), fired)
            .await
            .expect("woken by the timer");
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert_eq!(
            polls, 5,
            "the first poll, three wake-ups for nothing, the timer's"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_task_is_woken_at_the_moved_deadline() {
        let mut deadline = SlidingDeadline::new(Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(4)).await;
        deadline.touch();
        let started = Instant::now();
        let expired = std::future::poll_fn(|cx| {
            if deadline.poll_expired(cx) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        });
        tokio::time::timeout(Duration::from_secs(60), expired)
            .await
            .expect("woken at the deadline");
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }
}
