//! Waiting on conditions instead of sleeping: every wait has a deadline and a clear failure.

use std::fmt::{Debug, Display};
use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// How often the polling helpers re-check their condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Polls `cond` every [`POLL_INTERVAL`] until it returns `true`.
///
/// # Panics
///
/// When `timeout` passes first; the message names `what`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: impl Display, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if cond().await {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting until {what}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Polls `observe` every [`POLL_INTERVAL`] until `accept` holds for its value, and returns it.
///
/// # Panics
///
/// When `timeout` passes first; the message names `what` and shows the last observed value.
pub async fn wait_for<T, F, Fut, P>(
    timeout: Duration,
    what: impl Display,
    mut observe: F,
    accept: P,
) -> T
where
    T: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
    P: Fn(&T) -> bool,
{
    let deadline = Instant::now() + timeout;
    loop {
        let value = observe().await;
        if accept(&value) {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last observed: {value:?}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Waits until the value in `rx` satisfies `accept` (checking the current value first), and
/// returns a clone of it.
///
/// # Panics
///
/// When `timeout` passes first or the sender is dropped; the message names `what` and shows the
/// last observed value.
pub async fn wait_watch<T, P>(
    rx: &mut watch::Receiver<T>,
    timeout: Duration,
    what: impl Display,
    accept: P,
) -> T
where
    T: Clone + Debug,
    P: Fn(&T) -> bool,
{
    let deadline = Instant::now() + timeout;
    loop {
        let value = rx.borrow_and_update().clone();
        if accept(&value) {
            return value;
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                panic!("sender dropped while waiting for {what}; last observed: {value:?}")
            }
            Err(_) => {
                panic!("timed out after {timeout:?} waiting for {what}; last observed: {value:?}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn wait_until_returns_once_true() {
        let mut n = 0;
        wait_until(Duration::from_secs(1), "n reaches 3", || {
            n += 1;
            let done = n >= 3;
            async move { done }
        })
        .await;
        assert_eq!(n, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_for_panics_with_last_value() {
        let handle = tokio::spawn(async {
            wait_for(
                Duration::from_millis(50),
                "seven",
                || async { 6 },
                |v| *v == 7,
            )
            .await
        });
        let error = handle.await.unwrap_err();
        let message = error.into_panic();
        let message = message.downcast_ref::<String>().unwrap();
        assert!(
            message.contains("waiting for seven; last observed: 6"),
            "{message}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn wait_watch_sees_later_values() {
        let (tx, mut rx) = watch::channel(0);
        tokio::spawn(async move {
            for i in 1..=5 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                tx.send(i).unwrap();
            }
            std::future::pending::<()>().await;
        });
        let value = wait_watch(&mut rx, Duration::from_secs(1), "five", |v| *v == 5).await;
        assert_eq!(value, 5);
        let error = tokio::spawn(async move {
            wait_watch(&mut rx, Duration::from_millis(30), "six", |v| *v == 6).await
        })
        .await
        .unwrap_err();
        let message = error.into_panic();
        let message = message.downcast_ref::<String>().unwrap();
        assert!(message.contains("last observed: 5"), "{message}");
    }
}
