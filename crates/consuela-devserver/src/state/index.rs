//! The global Raft-like index and the per-table indexes derived from it.

/// One counter for every write (like Raft's log index) plus the last index
/// that touched each table, which is what Consul reports in `X-Consul-Index`.
#[derive(Debug, Default)]
pub(crate) struct Indexes {
    last: u64,
    /// The index of the write in progress, so one operation that touches many
    /// rows (a txn, an invalidation) uses a single index, as one Raft entry does.
    cur: Option<u64>,
    /// Last KV insert/update/delete (deletes count because of tombstones).
    pub(crate) kvs: u64,
    /// Last session create/destroy.
    pub(crate) sessions: u64,
    /// Last catalog change (nodes, services, checks).
    pub(crate) catalog: u64,
}

impl Indexes {
    /// The index of the current write, allocating it on first use.
    pub(crate) fn write(&mut self) -> u64 {
        *self.cur.get_or_insert_with(|| {
            self.last += 1;
            self.last
        })
    }

    /// The index the current (or next) write will get, without allocating it.
    pub(crate) fn peek_write(&self) -> u64 {
        self.cur.unwrap_or(self.last + 1)
    }

    pub(crate) fn end_write(&mut self) {
        self.cur = None;
    }

    pub(crate) fn last(&self) -> u64 {
        self.last
    }
}
