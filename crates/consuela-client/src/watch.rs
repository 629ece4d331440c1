//! Blocking-query loops as a [`Stream`]: see [`watch`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use consuela_wire::Index;
use futures_util::stream::{BoxStream, Stream, StreamExt as _};
use tokio::time::Instant;

use crate::error::Error;
use crate::query::{Consistency, QueryOptions, QueryResponse};

/// Settings of a [`watch`] loop. Defaults are documented per field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WatchConfig {
    /// Longest time one blocking request waits server-side. Keep it at most the session TTL
    /// when the watch guards ownership, so a partition is noticed within a bounded time.
    /// Default 30 s.
    pub wait: Duration,
    /// Consistency mode of every read. Default [`Consistency::Default`].
    pub consistency: Consistency,
    /// Token bucket: requests allowed back to back. Default 4.
    pub burst: u32,
    /// Token bucket: one request token is added per interval. Default 100 ms.
    pub min_interval: Duration,
    /// First back-off after an error. Default 100 ms.
    pub backoff_initial: Duration,
    /// Largest back-off after repeated errors. Default 10 s.
    pub backoff_max: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            wait: Duration::from_secs(30),
            consistency: Consistency::Default,
            burst: 4,
            min_interval: Duration::from_millis(100),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
        }
    }
}

impl WatchConfig {
    /// Sets the blocking wait.
    #[must_use]
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Sets the error back-off bounds.
    #[must_use]
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max;
        self
    }

    /// Sets the consistency mode.
    #[must_use]
    pub fn consistency(mut self, consistency: Consistency) -> Self {
        self.consistency = consistency;
        self
    }
}

/// A stream of changes produced by [`watch`].
///
/// Items are `Ok(answer)` when the index changed, or `Err(error)` for a failed read (the loop
/// then backs off and continues). It never ends on its own; drop it to stop.
pub struct Watch<T> {
    inner: BoxStream<'static, Result<QueryResponse<T>, Error>>,
}

impl<T> fmt::Debug for Watch<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

impl<T> Stream for Watch<T> {
    type Item = Result<QueryResponse<T>, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

/// Runs `query` as a blocking-query loop and yields its changes as a [`Stream`].
///
/// `query` (any read that takes [`QueryOptions`]) runs in the loop Consul's documentation
/// prescribes:
///
/// - the first read does not block (`index` 0); every later one blocks on the previous
///   answer's `X-Consul-Index` for at most [`WatchConfig::wait`];
/// - when the index goes backwards (snapshot restore, tombstone reaping, another server) the
///   loop resets to 0 and re-reads; an index of 0 is replaced by 1;
/// - an answer is yielded only when its index differs from the last yielded one (a timeout
///   with an unchanged index is not a change), but an equal index never proves equal data
///   elsewhere, so consumers compare values if they need to;
/// - a token bucket bounds the request rate, so a misbehaving server cannot make it busy-loop;
/// - errors are yielded as items, then the loop backs off exponentially with jitter and goes on
///   with a non-blocking re-read (index 0), as the Go client's lock monitor does.
///
/// The stream holds no task: dropping it cancels the request in flight.
/// Polling it inside `select!` is cancel safe (an answer is never lost between polls).
///
/// `query` receives the options of each request (index, wait, consistency) and performs one
/// read, e.g. `move |opts| { let client = client.clone(); async move { client.kv().get("k", opts).await } }`;
/// the endpoint groups offer ready-made watches such as [`Kv::watch`](crate::api::Kv::watch).
pub fn watch<T, F, Fut>(config: WatchConfig, query: F) -> Watch<T>
where
    T: Send + 'static,
    F: FnMut(QueryOptions) -> Fut + Send + 'static,
    Fut: Future<Output = Result<QueryResponse<T>, Error>> + Send + 'static,
{
    let state = LoopState {
        query,
        config,
        index: Index(0),
        last_yielded: None,
        bucket: TokenBucket::new(config.burst, config.min_interval),
        backoff: Backoff::new(config.backoff_initial, config.backoff_max),
        delay: None,
    };
    let inner = futures_util::stream::unfold(state, |mut state| async move {
        let item = state.next().await;
        Some((item, state))
    })
    .boxed();
    Watch { inner }
}

struct LoopState<F> {
    query: F,
    config: WatchConfig,
    index: Index,
    last_yielded: Option<Index>,
    bucket: TokenBucket,
    backoff: Backoff,
    delay: Option<Duration>,
}

impl<F> LoopState<F> {
    async fn next<T, Fut>(&mut self) -> Result<QueryResponse<T>, Error>
    where
        F: FnMut(QueryOptions) -> Fut,
        Fut: Future<Output = Result<QueryResponse<T>, Error>>,
    {
        loop {
            if let Some(delay) = self.delay.take() {
                tokio::time::sleep(delay).await;
            }
            self.bucket.acquire().await;
            let opts = QueryOptions {
                index: (self.index.0 > 0).then_some(self.index),
                wait: Some(self.config.wait),
                consistency: self.config.consistency,
            };
            match (self.query)(opts).await {
                Ok(response) => {
                    self.backoff.reset();
                    let (next, changed) = next_index(self.index, self.last_yielded, response.index);
                    self.index = next;
                    if changed {
                        self.last_yielded = Some(response.index);
                        return Ok(response);
                    }
                }
                Err(error) => {
                    // The next answer may come from another server (or a restarted one) whose
                    // index is lower: re-read at once instead of blocking on a stale index for
                    // the whole wait. Only a different index is yielded, so this repeats nothing.
                    self.index = Index(0);
                    self.delay = Some(self.backoff.next_delay());
                    return Err(error);
                }
            }
        }
    }
}

/// The blocking-query index rules: returns the index for the next request and whether the
/// answer counts as a change.
fn next_index(previous: Index, last_yielded: Option<Index>, answered: Index) -> (Index, bool) {
    let changed = last_yielded != Some(answered);
    let next = if answered.0 == 0 {
        // Old servers could answer 0; blocking on 0 would not block at all.
        Index(1)
    } else if answered < previous {
        // The index went backwards: start over with a non-blocking read.
        Index(0)
    } else {
        answered
    };
    (next, changed)
}

/// A token bucket on tokio time.
#[derive(Debug)]
struct TokenBucket {
    burst: f64,
    interval: Duration,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(burst: u32, interval: Duration) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            burst,
            interval,
            tokens: burst,
            last: Instant::now(),
        }
    }

    async fn acquire(&mut self) {
        if self.interval.is_zero() {
            return;
        }
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() / self.interval.as_secs_f64();
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return;
        }
        let wait = self.interval.mul_f64(1.0 - self.tokens);
        tokio::time::sleep(wait).await;
        self.tokens = 0.0;
        self.last = Instant::now();
    }
}

/// Exponential back-off with jitter: the n-th delay is uniform in `[d/2, d]` with
/// `d = min(max, initial × 2^n)`.
#[derive(Debug)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            attempt: 0,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let factor = 2_u32.saturating_pow(self.attempt.min(30));
        self.attempt = self.attempt.saturating_add(1);
        let ceiling = self.initial.saturating_mul(factor).min(self.max);
        let jitter: f64 = rand::random_range(0.5..=1.0);
        ceiling.mul_f64(jitter)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::error::ErrorKind;
    use crate::query::QueryMeta;

    fn answer(index: u64, value: u32) -> Result<QueryResponse<u32>, Error> {
        Ok(QueryResponse::new(
            value,
            QueryMeta {
                index: Index(index),
                known_leader: true,
                last_contact: Duration::ZERO,
            },
        ))
    }

    #[test]
    fn index_rules() {
        // First answer: always a change; block on it next.
        assert_eq!(next_index(Index(0), None, Index(5)), (Index(5), true));
        // Timeout with the same index: not a change.
        assert_eq!(
            next_index(Index(5), Some(Index(5)), Index(5)),
            (Index(5), false)
        );
        // Larger index: a change.
        assert_eq!(
            next_index(Index(5), Some(Index(5)), Index(9)),
            (Index(9), true)
        );
        // Backwards: a change, and reset to 0.
        assert_eq!(
            next_index(Index(9), Some(Index(9)), Index(3)),
            (Index(0), true)
        );
        // The re-read after a reset answers the same index: not a change; block on it.
        assert_eq!(
            next_index(Index(0), Some(Index(3)), Index(3)),
            (Index(3), false)
        );
        // Zero becomes one.
        assert_eq!(next_index(Index(0), None, Index(0)), (Index(1), true));
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let first = backoff.next_delay();
        assert!(
            first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
            "{first:?}"
        );
        let second = backoff.next_delay();
        assert!(
            second >= Duration::from_millis(100) && second <= Duration::from_millis(200),
            "{second:?}"
        );
        for _ in 0..10 {
            assert!(backoff.next_delay() <= Duration::from_secs(1));
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn yields_changes_only_and_passes_indexes() {
        let script = Arc::new(Mutex::new(vec![
            answer(5, 1),
            answer(5, 1),
            answer(7, 2),
            answer(2, 3),
            answer(2, 3),
            answer(8, 4),
        ]));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (script2, seen2) = (script.clone(), seen.clone());
        let mut stream = watch(WatchConfig::default(), move |opts: QueryOptions| {
            seen2.lock().unwrap().push(opts.index.map(|index| index.0));
            let next = script2.lock().unwrap().remove(0);
            async move { next }
        });
        let mut values = Vec::new();
        for _ in 0..4 {
            values.push(stream.next().await.unwrap().unwrap().value);
        }
        assert_eq!(values, vec![1, 2, 3, 4]);
        assert_eq!(
            *seen.lock().unwrap(),
            vec![None, Some(5), Some(5), Some(7), None, Some(2)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn errors_are_yielded_then_backed_off() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let calls2 = calls.clone();
        let mut n = 0;
        let mut stream = watch(WatchConfig::default(), move |_opts: QueryOptions| {
            n += 1;
            calls2.lock().unwrap().push(Instant::now());
            let result = if n < 3 {
                Err(Error::new(ErrorKind::Connect))
            } else {
                answer(1, 9)
            };
            async move { result }
        });
        assert_eq!(
            stream.next().await.unwrap().unwrap_err().kind(),
            ErrorKind::Connect
        );
        assert_eq!(
            stream.next().await.unwrap().unwrap_err().kind(),
            ErrorKind::Connect
        );
        assert_eq!(stream.next().await.unwrap().unwrap().value, 9);
        let calls = calls.lock().unwrap();
        assert!(calls[1] - calls[0] >= Duration::from_millis(50));
        assert!(calls[2] - calls[1] >= Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_resets_the_index_without_repeating_the_answer() {
        let script = Arc::new(Mutex::new(vec![
            answer(5, 1),
            Err(Error::new(ErrorKind::Transport)),
            answer(5, 1),
            answer(6, 2),
        ]));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (script2, seen2) = (script.clone(), seen.clone());
        let mut stream = watch(WatchConfig::default(), move |opts: QueryOptions| {
            seen2.lock().unwrap().push(opts.index.map(|index| index.0));
            let next = script2.lock().unwrap().remove(0);
            async move { next }
        });
        assert_eq!(stream.next().await.unwrap().unwrap().value, 1);
        assert!(stream.next().await.unwrap().is_err());
        assert_eq!(stream.next().await.unwrap().unwrap().value, 2);
        assert_eq!(*seen.lock().unwrap(), vec![None, Some(5), None, Some(5)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_that_never_blocks_is_rate_limited() {
        let count = Arc::new(Mutex::new(0_u32));
        let count2 = count.clone();
        let mut stream = watch(WatchConfig::default(), move |_opts: QueryOptions| {
            let mut count = count2.lock().unwrap();
            *count += 1;
            // Always the same index, answered at once: nothing to yield.
            let result = answer(1, 0);
            async move { result }
        });
        assert!(stream.next().await.is_some());
        let started = Instant::now();
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.next()).await;
        let elapsed = started.elapsed();
        let count = *count.lock().unwrap();
        // 10 requests per second at most, plus the burst.
        assert!(
            count <= 4 + 1 + (elapsed.as_millis() / 100) as u32,
            "{count} in {elapsed:?}"
        );
        assert!(count >= 50, "{count}");
    }
}
