//! Signals the long-running commands end on.

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// SIGUSR1 calls `set(true)`, SIGUSR2 `set(false)`: the switch for a
/// server's `/metrics`, as the relay has it.
pub(crate) fn metrics_switch(set: impl Fn(bool) + Send + 'static) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut on = signal(SignalKind::user_defined1())?;
    let mut off = signal(SignalKind::user_defined2())?;
    tokio::spawn(async move {
        loop {
            let enabled = tokio::select! {
                Some(()) = on.recv() => true,
                Some(()) = off.recv() => false,
                else => return,
            };
            set(enabled);
            tracing::info!(enabled, "metrics switched");
        }
    });
    Ok(())
}
