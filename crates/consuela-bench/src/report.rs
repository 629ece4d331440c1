//! What a run prints: [`Report`]s, as a table or as JSON lines on stdout,
//! and progress notes on stderr.

use std::io::Write;
use std::time::Duration;

use super::load::{self, Latency};

/// One measured result.
#[derive(Debug, Clone)]
pub(super) struct Report {
    /// Scenario name, e.g. `register`.
    scenario: &'static str,
    /// `registry` or `baseline`.
    implementation: &'static str,
    pub(super) concurrency: usize,
    pub(super) names: usize,
    pub(super) ops: u64,
    pub(super) elapsed: Duration,
    pub(super) latency: Option<Latency>,
    /// VmRSS of this process when the report was made.
    rss_kib: u64,
    /// Anything scenario-specific (counts, ratios, memory deltas).
    extra: serde_json::Map<String, serde_json::Value>,
}

impl Report {
    pub(super) fn new(scenario: &'static str, implementation: &'static str) -> Self {
        Self {
            scenario,
            implementation,
            concurrency: 0,
            names: 0,
            ops: 0,
            elapsed: Duration::ZERO,
            latency: None,
            rss_kib: load::rss_kib(),
            extra: serde_json::Map::new(),
        }
    }

    pub(super) fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// Records the process CPU time the run used, as `cpu_us_per_op`, and
    /// its user-space part, as `user_us_per_op`.
    pub(super) fn with_cpu(self, cpu: load::Cpu) -> Self {
        let per_op = |d: Duration| {
            let us = d.as_secs_f64() * 1e6 / (self.ops.max(1) as f64);
            (us * 100.0).round() / 100.0
        };
        let (total, user) = (per_op(cpu.total), per_op(cpu.user));
        self.with("cpu_us_per_op", total)
            .with("user_us_per_op", user)
    }

    /// A number recorded with [`with`](Self::with), e.g. a ratio.
    pub(super) fn figure(&self, key: &str) -> Option<f64> {
        self.extra.get(key)?.as_f64()
    }

    /// The median of each of `keys` over `reports` (those that have it), as
    /// one `median` report of `scenario`: what `--rounds` prints last.
    pub(super) fn medians(scenario: &'static str, reports: &[Report], keys: &[&str]) -> Self {
        let mut median = Self::new(scenario, "median").with("rounds", reports.len());
        median.concurrency = reports.first().map_or(0, |r| r.concurrency);
        median.names = reports.first().map_or(0, |r| r.names);
        for key in keys {
            let mut values: Vec<f64> = reports.iter().filter_map(|r| r.figure(key)).collect();
            if values.is_empty() {
                continue;
            }
            values.sort_by(f64::total_cmp);
            let mid = values.len() / 2;
            let value = if values.len() % 2 == 1 {
                values[mid]
            } else {
                (values[mid - 1] + values[mid]) / 2.0
            };
            median = median.with(key, (value * 1000.0).round() / 1000.0);
        }
        median
    }

    /// Adds `cpu_vs_baseline` and `user_vs_baseline`: this report's CPU time
    /// per operation (all, and user space) over `base`'s, as recorded by
    /// [`with_cpu`](Self::with_cpu).
    pub(super) fn with_cpu_ratios(mut self, base: &Report) -> Self {
        for (per_op, ratio) in [
            ("cpu_us_per_op", "cpu_vs_baseline"),
            ("user_us_per_op", "user_vs_baseline"),
        ] {
            if let (Some(ours), Some(theirs)) = (self.figure(per_op), base.figure(per_op)) {
                let value = ours / theirs.max(f64::MIN_POSITIVE);
                self = self.with(ratio, (value * 1000.0).round() / 1000.0);
            }
        }
        self
    }

    pub(super) fn ops_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ops as f64 / secs
        } else {
            0.0
        }
    }

    fn to_json(&self, server: &str) -> serde_json::Value {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let latency = self.latency.as_ref().map(|l| {
            serde_json::json!({
                "p50": us(l.p50), "p90": us(l.p90), "p99": us(l.p99), "max": us(l.max), "mean": us(l.mean),
            })
        });
        serde_json::json!({
            "scenario": self.scenario,
            "impl": self.implementation,
            "server": server,
            "concurrency": self.concurrency,
            "names": self.names,
            "ops": self.ops,
            "secs": self.elapsed.as_secs_f64(),
            "ops_per_sec": self.ops_per_sec(),
            "latency_us": latency,
            "rss_kib": self.rss_kib,
            "loadavg": load::loadavg(),
            "extra": self.extra,
        })
    }

    fn to_text(&self) -> String {
        let mut line = format!(
            "{:<15} {:<8} c={:<4} names={:<7}",
            self.scenario, self.implementation, self.concurrency, self.names
        );
        if self.ops > 0 {
            line.push_str(&format!(" {:>11.0} ops/s", self.ops_per_sec()));
        }
        if let Some(l) = &self.latency {
            line.push_str(&format!(
                "  p50 {} p90 {} p99 {} max {}",
                fmt_dur(l.p50),
                fmt_dur(l.p90),
                fmt_dur(l.p99),
                fmt_dur(l.max)
            ));
        }
        line.push_str(&format!(
            "  rss {:.1} MiB  load {}",
            self.rss_kib as f64 / 1024.0,
            load::loadavg()
        ));
        for (k, v) in &self.extra {
            line.push_str(&format!("  {k}={v}"));
        }
        line
    }
}

fn fmt_dur(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 {
        format!("{ns}ns")
    } else if ns < 10_000_000 {
        format!("{:.1}µs", ns as f64 / 1e3)
    } else {
        format!("{:.2}ms", ns as f64 / 1e6)
    }
}

/// Where reports go: a table or JSON lines on stdout.
#[derive(Debug)]
pub(super) struct Output {
    pub(super) json: bool,
    pub(super) server: String,
}

impl Output {
    pub(super) fn emit(&self, report: &Report) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        if self.json {
            writeln!(out, "{}", report.to_json(&self.server))?;
        } else {
            writeln!(out, "{}", report.to_text())?;
        }
        out.flush()?;
        Ok(())
    }

    /// Progress notes go to stderr so that `--json` output stays clean.
    pub(super) fn note(&self, text: impl std::fmt::Display) {
        let _ = writeln!(std::io::stderr().lock(), "consuela-bench: {text}");
    }
}
