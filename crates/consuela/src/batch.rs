//! Opportunistic batching of the session's writes into `/v1/txn`
//! transactions.
//!
//! Consul commits one transaction of up to 64 operations for about the cost
//! of one single write, so registrations are bound by requests, not by
//! Consul. An operation that finds fewer than `max_in_flight` transactions
//! in flight goes out at once, alone, from the caller's own task (no added
//! latency, no hand-off); operations submitted while that many are in
//! flight queue, and the caller whose transaction ends first sends them
//! together in the next one from a short-lived task. A few transactions in
//! flight (4 by default) keep light loads unbatched and pipeline heavy ones.
//!
//! Consul applies a transaction atomically and lists every operation that
//! failed, so per-operation answers stay exact: a failed operation gets its
//! own error text, and the others, which were rolled back unapplied, go out
//! again at the front of the queue. An unknown outcome (a timeout, a reset,
//! a 500) is every operation's unknown outcome; `No cluster leader` (refused
//! before anything was applied) is answered as such to each.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use consuela_client::{Client, DeleteOptions, TxnFailure, TxnOutcome};
use consuela_wire::{Index, TxnOp};
use tokio::sync::oneshot;

use crate::error::{Error, ErrorKind};

/// What one operation is, and what it produces when its transaction commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OpKind {
    /// A `lock`: one KV result, whose `ModifyIndex` is the fencing token.
    Lock,
    /// A `delete-cas` of `key` at `index`: no result. Sent alone, it goes
    /// out as the equivalent `DELETE ?cas`, lighter than a transaction.
    DeleteCas {
        /// The key.
        key: String,
        /// The `ModifyIndex` it must still have.
        index: Index,
    },
}

/// One operation's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Applied; a lock's new `ModifyIndex`.
    Applied(Option<Index>),
    /// A `delete-cas` whose index no longer matched: nothing deleted.
    Stale,
    /// Refused by Consul: the text of its `Errors[].What`.
    Failed(String),
    /// Consul has no leader: nothing was applied.
    NoLeader,
}

/// Limits of the batching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Operations per transaction (Consul's limit is 64); 1 turns batching
    /// off: every operation then goes out on its own, at once.
    pub(crate) max_ops: usize,
    /// Bytes of keys and values per transaction, well below Consul's
    /// `txn_max_req_len` (512 KiB) once base64 and JSON are added.
    pub(crate) max_bytes: usize,
    /// Transactions in flight at once when batching.
    pub(crate) max_in_flight: usize,
}

impl Limits {
    /// Batches of up to `max_ops` operations, `max_in_flight` at a time.
    pub(crate) fn new(max_ops: usize, max_in_flight: usize) -> Self {
        Self {
            max_ops: max_ops.max(1),
            max_bytes: 256 * 1024,
            max_in_flight: max_in_flight.max(1),
        }
    }

    fn in_flight(&self) -> usize {
        if self.max_ops == 1 {
            usize::MAX
        } else {
            self.max_in_flight
        }
    }
}

struct Job {
    op: TxnOp,
    kind: OpKind,
    bytes: usize,
    reply: oneshot::Sender<Result<Answer, Error>>,
}

/// Submits operations. Cheap to clone; every clone shares one queue.
#[derive(Clone)]
pub(crate) struct Batcher {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("limits", &self.shared.limits)
            .finish_non_exhaustive()
    }
}

struct Shared {
    client: Client,
    limits: Limits,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    in_flight: usize,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot holder's transaction is done: the next batch to send with the
    /// slot, or `None` once the slot is given back.
    fn next(&self) -> Option<Vec<Job>> {
        let mut state = self.lock();
        let batch = take(&mut state.queue, self.limits);
        if batch.is_empty() {
            state.in_flight -= 1;
            None
        } else {
            Some(batch)
        }
    }
}

/// One of the `max_in_flight` transactions. Dropped before its drain
/// finished (a caller's own send done, its future cancelled, a panic), it
/// hands the queue on to a task of its own, so that no queued operation
/// waits forever.
struct Slot {
    shared: Arc<Shared>,
    done: bool,
}

impl Slot {
    /// Sends `batch`, then every batch queued meanwhile, then gives the slot back.
    async fn drain(mut self, mut batch: Vec<Job>) {
        loop {
            let retry = send(&self.shared.client, batch).await;
            if !retry.is_empty() {
                let mut state = self.shared.lock();
                for job in retry.into_iter().rev() {
                    state.queue.push_front(job);
                }
            }
            match self.shared.next() {
                Some(next) => batch = next,
                None => {
                    self.done = true;
                    return;
                }
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let Some(batch) = self.shared.next() else {
            return;
        };
        let slot = Slot {
            shared: self.shared.clone(),
            done: false,
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(slot.drain(batch))),
            // No runtime to send from: the queued callers learn it at once.
            Err(_) => {
                for job in batch {
                    let _ = job.reply.send(Err(Error::new(ErrorKind::Shutdown)));
                }
            }
        }
    }
}

impl Batcher {
    /// A batcher sending through `client`.
    pub(crate) fn new(client: Client, limits: Limits) -> Self {
        let shared = Shared {
            client,
            limits,
            state: Mutex::new(State::default()),
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// Sends `op` at once if no transaction is in flight, else in the next
    /// one, and waits for its answer. `bytes` is the size of its key and
    /// value.
    ///
    /// # Errors
    ///
    /// The transaction's error (its outcome may be unknown);
    /// [`ErrorKind::Unknown`] when the task sending it was dropped midway.
    ///
    /// # Cancel safety
    ///
    /// An operation not yet sent when the future is dropped is never sent;
    /// one already sent may or may not be applied. Operations queued behind
    /// a cancelled one are still sent.
    pub(crate) async fn submit(
        &self,
        op: TxnOp,
        kind: OpKind,
        bytes: usize,
    ) -> Result<Answer, Error> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            op,
            kind,
            bytes,
            reply,
        };
        let mine = {
            let mut state = self.shared.lock();
            if state.queue.is_empty() && state.in_flight < self.shared.limits.in_flight() {
                state.in_flight += 1;
                Some(job)
            } else {
                state.queue.push_back(job);
                None
            }
        };
        if let Some(job) = mine {
            // Dropped when the send ends (or this future is): what queued
            // meanwhile goes out from a task of its own, so that this caller
            // does not wait for it.
            let _slot = Slot {
                shared: self.shared.clone(),
                done: false,
            };
            // A single operation is never rolled back for another's sake.
            let _ = send(&self.shared.client, vec![job]).await;
        }
        // Dropped unanswered only if the task sending it was dropped or
        // panicked mid-transaction: the outcome is unknown.
        answer
            .await
            .unwrap_or_else(|_| Err(Error::new(ErrorKind::Unknown)))
    }
}

/// The next transaction's jobs, from the front of the queue: at most
/// `max_ops` and `max_bytes` (but at least one), skipping jobs whose caller
/// has gone.
fn take(queue: &mut VecDeque<Job>, limits: Limits) -> Vec<Job> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    while let Some(job) = queue.front() {
        if job.reply.is_closed() {
            queue.pop_front();
            continue;
        }
        let full = batch.len() >= limits.max_ops
            || (!batch.is_empty() && bytes + job.bytes > limits.max_bytes);
        if full {
            break;
        }
        bytes += job.bytes;
        batch.extend(queue.pop_front());
    }
    batch
}

/// Sends one batch and answers its jobs; returns those to send again.
async fn send(client: &Client, batch: Vec<Job>) -> Vec<Job> {
    if let [
        Job {
            kind: OpKind::DeleteCas { key, index },
            ..
        },
    ] = batch.as_slice()
    {
        let opts = DeleteOptions {
            cas: Some(*index),
            ..DeleteOptions::default()
        };
        let answer = match client.kv().delete(key, opts).await {
            Ok(true) => Ok(Answer::Applied(None)),
            Ok(false) => Ok(Answer::Stale),
            Err(e) if e.kind() == consuela_client::ErrorKind::NoLeader => Ok(Answer::NoLeader),
            Err(e) => Err(Error::from(e)),
        };
        for job in batch {
            let _ = job.reply.send(answer.clone());
        }
        return Vec::new();
    }
    // Moved out rather than cloned; put back for the ops sent again.
    let mut batch = batch;
    let ops: Vec<TxnOp> = batch
        .iter_mut()
        .map(|job| std::mem::take(&mut job.op))
        .collect();
    let outcome = client.txn().execute(&ops).await;
    for (job, op) in batch.iter_mut().zip(ops) {
        job.op = op;
    }
    answer(batch, outcome)
}

/// Answers every job of a transaction; returns the jobs to send again (those
/// rolled back only because another operation failed).
fn answer(batch: Vec<Job>, outcome: Result<TxnOutcome, consuela_client::Error>) -> Vec<Job> {
    match outcome {
        Ok(TxnOutcome::Committed(results)) => {
            let mut results = results.into_iter();
            for job in batch {
                let answer = match job.kind {
                    OpKind::Lock => match results.next().and_then(|r| r.kv) {
                        Some(kv) => Ok(Answer::Applied(Some(kv.modify_index))),
                        None => Err(Error::new(ErrorKind::Rejected)),
                    },
                    OpKind::DeleteCas { .. } => Ok(Answer::Applied(None)),
                };
                let _ = job.reply.send(answer);
            }
            Vec::new()
        }
        Ok(TxnOutcome::RolledBack(errors)) => {
            // An error naming no operation of ours fails them all, rather
            // than sending them again forever.
            let named = |i: usize| errors.iter().find(|e| e.op_index == i);
            let any_named = (0..batch.len()).any(|i| named(i).is_some());
            let mut retry = Vec::new();
            for (i, job) in batch.into_iter().enumerate() {
                let error = match named(i) {
                    Some(error) => Some(error),
                    None if !any_named => errors.first(),
                    None => None,
                };
                match error {
                    Some(error) => {
                        let stale = matches!(job.kind, OpKind::DeleteCas { .. })
                            && TxnFailure::classify(&error.what) == TxnFailure::IndexMismatch;
                        let answer = if stale {
                            Answer::Stale
                        } else {
                            Answer::Failed(error.what.clone())
                        };
                        let _ = job.reply.send(Ok(answer));
                    }
                    None => retry.push(job),
                }
            }
            retry
        }
        Err(e) if e.kind() == consuela_client::ErrorKind::NoLeader => {
            for job in batch {
                let _ = job.reply.send(Ok(Answer::NoLeader));
            }
            Vec::new()
        }
        Err(e) => {
            let error = Error::from(e);
            for job in batch {
                let _ = job.reply.send(Err(error.clone()));
            }
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use consuela_client::api::txn;
    use consuela_wire::{KvEntry, SessionId, TxnError, TxnResult};

    use super::*;

    fn lock(key: &str) -> (Job, oneshot::Receiver<Result<Answer, Error>>) {
        let (reply, rx) = oneshot::channel();
        let session = SessionId::from("s");
        let job = Job {
            op: txn::lock(key, b"v".to_vec(), &session),
            kind: OpKind::Lock,
            bytes: key.len() + 1,
            reply,
        };
        (job, rx)
    }

    fn delete(key: &str) -> (Job, oneshot::Receiver<Result<Answer, Error>>) {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            op: txn::delete_cas(key, Index(7)),
            kind: OpKind::DeleteCas {
                key: key.to_owned(),
                index: Index(7),
            },
            bytes: key.len(),
            reply,
        };
        (job, rx)
    }

    fn result(index: u64) -> TxnResult {
        TxnResult {
            kv: Some(KvEntry {
                modify_index: Index(index),
                ..KvEntry::default()
            }),
        }
    }

    #[test]
    fn a_batch_respects_both_limits_and_skips_callers_that_left() {
        let limits = Limits {
            max_ops: 3,
            max_bytes: 10,
            max_in_flight: 1,
        };
        let (gone, gone_rx) = lock("gone");
        drop(gone_rx);
        let mut queue: VecDeque<Job> = VecDeque::new();
        queue.push_back(gone);
        let mut receivers = Vec::new();
        for key in ["a", "b", "c", "d"] {
            let (job, rx) = lock(key);
            queue.push_back(job);
            receivers.push(rx);
        }
        assert_eq!(take(&mut queue, limits).len(), 3, "max_ops");
        assert_eq!(queue.len(), 1);
        let (big, _big_rx) = lock("a-key-longer-than-ten-bytes");
        queue.push_back(big);
        // `d` (2 bytes) fits; the big one would pass max_bytes: next batch.
        assert_eq!(take(&mut queue, limits).len(), 1);
        // Alone, even an operation over the byte limit goes out.
        assert_eq!(take(&mut queue, limits).len(), 1);
        assert!(take(&mut queue, limits).is_empty());
    }

    #[test]
    fn a_commit_answers_locks_in_order_and_deletes_without_results() {
        let (a, mut a_rx) = lock("a");
        let (d, mut d_rx) = delete("d");
        let (b, mut b_rx) = lock("b");
        let outcome = Ok(TxnOutcome::Committed(vec![result(10), result(10)]));
        assert!(answer(vec![a, d, b], outcome).is_empty());
        assert_eq!(
            a_rx.try_recv().unwrap().unwrap(),
            Answer::Applied(Some(Index(10)))
        );
        assert_eq!(d_rx.try_recv().unwrap().unwrap(), Answer::Applied(None));
        assert_eq!(
            b_rx.try_recv().unwrap().unwrap(),
            Answer::Applied(Some(Index(10)))
        );
    }

    #[test]
    fn a_rollback_answers_the_failed_ops_and_sends_the_others_again() {
        let (a, mut a_rx) = lock("a");
        let (b, mut b_rx) = lock("b");
        let (d, mut d_rx) = delete("d");
        let (c, mut c_rx) = lock("c");
        let errors = vec![
            TxnError {
                op_index: 1,
                what: r#"failed to lock key "b", lock is already held"#.into(),
            },
            TxnError {
                op_index: 2,
                what: r#"failed to delete key "d", index is stale"#.into(),
            },
        ];
        let retry = answer(vec![a, b, d, c], Ok(TxnOutcome::RolledBack(errors)));
        assert_eq!(
            b_rx.try_recv().unwrap().unwrap(),
            Answer::Failed(r#"failed to lock key "b", lock is already held"#.into())
        );
        assert_eq!(d_rx.try_recv().unwrap().unwrap(), Answer::Stale);
        let again: Vec<_> = retry.iter().map(|j| j.kind.clone()).collect();
        assert_eq!(again, [OpKind::Lock, OpKind::Lock]);
        assert!(a_rx.try_recv().is_err() && c_rx.try_recv().is_err());
    }

    #[test]
    fn a_rollback_naming_no_op_fails_every_op() {
        let (a, mut a_rx) = lock("a");
        let (b, mut b_rx) = lock("b");
        let errors = vec![TxnError {
            op_index: 9,
            what: "Permission denied".into(),
        }];
        assert!(answer(vec![a, b], Ok(TxnOutcome::RolledBack(errors))).is_empty());
        for rx in [&mut a_rx, &mut b_rx] {
            assert_eq!(
                rx.try_recv().unwrap().unwrap(),
                Answer::Failed("Permission denied".into())
            );
        }
    }

    #[test]
    fn batching_off_never_limits_the_requests_in_flight() {
        assert_eq!(Limits::new(1, 4).in_flight(), usize::MAX);
        assert_eq!(Limits::new(64, 4).in_flight(), 4);
        assert_eq!(Limits::new(0, 0).max_ops, 1);
        assert_eq!(Limits::new(64, 0).in_flight(), 1);
    }
}
