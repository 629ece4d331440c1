//! The report of a safety run: [`SafetyReport`], built from the history once the run ended, its
//! verdict ([`SafetyReport::is_ok`]) and its human summary ([`SafetyReport::summary`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::BoxError;
use super::audit::PostRun;
use super::checker::{CheckReport, IntervalEnd, check_limit};
use super::history::{Event, read_history};

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct SafetyReport {
    /// The seed.
    pub seed: u64,
    /// Members' counters summed (`attempts`, `acquired`, `conflicts`, `lock_delays`,
    /// `errors`), from each incarnation's last stats.
    pub operations: BTreeMap<&'static str, u64>,
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, u64>,
    /// Faults skipped because they did not apply (member down or paused, or an invalidation
    /// that the member could not have learned of), by kind.
    pub skipped: BTreeMap<&'static str, u64>,
    /// The checker's verdict.
    pub check: CheckReport,
    /// The post-run checks.
    pub post: PostRun,
    /// History lines that did not parse.
    pub bad_lines: usize,
    /// The history file.
    pub history: PathBuf,
}

impl SafetyReport {
    /// Reads the finished run's history, sums each incarnation's last stats and runs the
    /// checker over it.
    ///
    /// # Errors
    ///
    /// When the history cannot be read.
    pub(crate) fn from_history(
        limit: Option<u32>,
        seed: u64,
        history: PathBuf,
        faults: BTreeMap<&'static str, u64>,
        skipped: BTreeMap<&'static str, u64>,
        post: PostRun,
    ) -> Result<Self, BoxError> {
        let (events, bad_lines) = read_history(&history)?;
        let mut last_stats: BTreeMap<&str, [u64; 5]> = BTreeMap::new();
        for event in &events {
            if let Event::Stats {
                member,
                attempts,
                acquired,
                conflicts,
                lock_delays,
                errors,
                ..
            } = event
            {
                last_stats.insert(
                    member,
                    [*attempts, *acquired, *conflicts, *lock_delays, *errors],
                );
            }
        }
        let mut operations = BTreeMap::new();
        for (i, key) in ["attempts", "acquired", "conflicts", "lock_delays", "errors"]
            .into_iter()
            .enumerate()
        {
            operations.insert(key, last_stats.values().map(|s| s[i]).sum());
        }
        Ok(Self {
            seed,
            operations,
            faults,
            skipped,
            check: check_limit(&events, limit.map_or(1, |l| l as usize)),
            post,
            bad_lines,
            history,
        })
    }

    /// No violation and no post-run problem.
    pub fn is_ok(&self) -> bool {
        self.check.violations.is_empty() && self.post.problems.is_empty()
    }

    /// A human summary: figures, then the first violation with its history.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "seed {}; history {}", self.seed, self.history.display());
        let _ = writeln!(
            s,
            "operations: {} ownership intervals; {:?}",
            self.check.interval_count(),
            self.operations
        );
        let total: u64 = self.faults.values().sum();
        let _ = writeln!(s, "faults injected: {total} {:?}", self.faults);
        let _ = writeln!(s, "faults skipped: {:?}", self.skipped);
        let ended = |how| {
            self.check
                .intervals
                .values()
                .flatten()
                .filter(|i| i.how == how)
                .count()
        };
        let _ = writeln!(
            s,
            "intervals ended by release {}, by death {}, open {}; unmatched releases {}; bad lines {}",
            ended(IntervalEnd::Released),
            ended(IntervalEnd::Died),
            ended(IntervalEnd::Open),
            self.check.unmatched_releases,
            self.bad_lines
        );
        match &self.check.longest_run_after_invalidation {
            Some(r) => {
                let _ = writeln!(
                    s,
                    "longest run after invalidation: {:.1} ms ({} on {}, {})",
                    r.nanos as f64 / 1e6,
                    r.member,
                    r.name,
                    r.cause
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "longest run after invalidation: none (no owner outlived its session)"
                );
            }
        }
        let _ = writeln!(
            s,
            "post-run: {} live members, {} beliefs checked, {} problems",
            self.post.live_members,
            self.post.beliefs_checked,
            self.post.problems.len()
        );
        for p in &self.post.problems {
            let _ = writeln!(s, "  problem: {p}");
        }
        let _ = writeln!(s, "violations: {}", self.check.violations.len());
        if let Some(v) = self.check.first_violation() {
            let _ = write!(s, "first violation: {v}");
        }
        s
    }
}
