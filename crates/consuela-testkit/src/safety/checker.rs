//! The checker: for every name, no two ownership intervals of different owners overlap, fencing
//! tokens of successive owners strictly increase, and a dead member runs nothing.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use super::history::Event;

/// How an ownership interval ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalEnd {
    /// The member recorded `released`.
    Released,
    /// The member was killed (or exited) with the interval open: closed at its death.
    Died,
    /// Still open at the end of the history: closed at the last event.
    Open,
}

/// One owner's hold of one name: from `acquired` to `released` (or death).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    /// The name.
    pub name: String,
    /// Member label.
    pub member: String,
    /// Session.
    pub session: String,
    /// Fencing token.
    pub token: u64,
    /// `acquired` time.
    pub start: u64,
    /// `released` time, or death, or the end of the history.
    pub end: u64,
    /// Which of those.
    pub how: IntervalEnd,
}

impl Interval {
    fn same_registration(&self, other: &Self) -> bool {
        self.member == other.member && self.session == other.session && self.token == other.token
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} held by {} (session {}, token {}) from {} to {} ({:?})",
            self.name,
            self.member,
            short(&self.session),
            self.token,
            ms(self.start),
            ms(self.end),
            self.how
        )
    }
}

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViolationKind {
    /// Two owners held the name at the same time.
    Overlap,
    /// A later owner's fencing token is not higher than an earlier owner's.
    TokenNotIncreasing,
    /// A member recorded an event after the harness recorded its death.
    AfterDeath,
    /// More holders than a semaphore's limit held it at the same time.
    OverLimit,
}

/// A safety violation, with the history around it.
#[derive(Debug, Clone)]
pub struct Violation {
    /// What went wrong.
    pub kind: ViolationKind,
    /// The earlier interval.
    pub first: Interval,
    /// The later interval (for `AfterDeath`, the offending one).
    pub second: Interval,
    /// The events around the violation, in time order.
    pub context: Vec<Event>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:?}:", self.kind)?;
        writeln!(f, "  first:  {}", self.first)?;
        writeln!(f, "  second: {}", self.second)?;
        if self.kind == ViolationKind::Overlap {
            let overlap = self.first.end.min(self.second.end) - self.second.start;
            writeln!(f, "  overlap: {:.3} ms", nanos_ms(overlap))?;
        }
        writeln!(f, "  history around it (t in ms):")?;
        for event in &self.context {
            let line = serde_json::to_string(event).unwrap_or_default();
            writeln!(f, "    {:>12} {line}", ms(event.t()))?;
        }
        Ok(())
    }
}

/// A run after an early invalidation: how long an owner kept running after Consul dropped its
/// session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAfter {
    /// Nanoseconds from the invalidation to the owner's `released`.
    pub nanos: u64,
    /// Member label.
    pub member: String,
    /// The name it kept running under.
    pub name: String,
    /// `forced` (the harness invalidated it) or `expired` (seen missing by polling).
    pub cause: &'static str,
}

/// What the checker found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Ownership intervals, per name, in start order.
    pub intervals: BTreeMap<String, Vec<Interval>>,
    /// Violations, earliest first.
    pub violations: Vec<Violation>,
    /// `released` events that matched no open interval (a bug in the member, not a violation).
    pub unmatched_releases: usize,
    /// The longest time an owner kept running after its session was invalidated.
    pub longest_run_after_invalidation: Option<RunAfter>,
}

impl CheckReport {
    /// How many ownership intervals the history holds.
    pub fn interval_count(&self) -> usize {
        self.intervals.values().map(Vec::len).sum()
    }

    /// The first violation, if any.
    pub fn first_violation(&self) -> Option<&Violation> {
        self.violations.first()
    }
}

/// Checks a history (any order; it is sorted by time here).
pub fn check(events: &[Event]) -> CheckReport {
    let mut events = events.to_vec();
    events.sort_by_key(Event::t);
    let end_of_history = events.last().map_or(0, Event::t);
    let mut report = CheckReport::default();

    // Build the intervals.
    let mut open: HashMap<(String, String, String, u64), u64> = HashMap::new();
    let mut closed: Vec<Interval> = Vec::new();
    let mut death: HashMap<String, u64> = HashMap::new();
    let mut after_death: Vec<Interval> = Vec::new();
    for event in &events {
        if let Some(member) = event.member()
            && let Some(&died) = death.get(member)
            && matches!(event, Event::Acquired { .. } | Event::Released { .. })
            && event.t() > died
        {
            let (name, session, token) = match event {
                Event::Acquired {
                    name,
                    session,
                    token,
                    ..
                }
                | Event::Released {
                    name,
                    session,
                    token,
                    ..
                } => (name.clone(), session.clone(), *token),
                _ => unreachable!(),
            };
            after_death.push(Interval {
                name,
                member: member.to_owned(),
                session,
                token,
                start: died,
                end: event.t(),
                how: IntervalEnd::Died,
            });
        }
        match event {
            Event::Acquired {
                name,
                member,
                session,
                token,
                t,
            } => {
                open.insert((name.clone(), member.clone(), session.clone(), *token), *t);
            }
            Event::Released {
                name,
                member,
                session,
                token,
                t,
            } => {
                let key = (name.clone(), member.clone(), session.clone(), *token);
                match open.remove(&key) {
                    Some(start) => closed.push(Interval {
                        name: key.0,
                        member: key.1,
                        session: key.2,
                        token: key.3,
                        start,
                        end: *t,
                        how: IntervalEnd::Released,
                    }),
                    None => report.unmatched_releases += 1,
                }
            }
            Event::Killed { member, t } | Event::Exited { member, t, .. } => {
                death.entry(member.clone()).or_insert(*t);
                let dead: Vec<_> = open.keys().filter(|k| k.1 == *member).cloned().collect();
                for key in dead {
                    let start = open.remove(&key).unwrap_or(*t);
                    closed.push(Interval {
                        name: key.0,
                        member: key.1,
                        session: key.2,
                        token: key.3,
                        start,
                        end: *t,
                        how: IntervalEnd::Died,
                    });
                }
            }
            _ => {}
        }
    }
    for (key, start) in open {
        closed.push(Interval {
            name: key.0,
            member: key.1,
            session: key.2,
            token: key.3,
            start,
            end: end_of_history,
            how: IntervalEnd::Open,
        });
    }
    for interval in closed {
        report
            .intervals
            .entry(interval.name.clone())
            .or_default()
            .push(interval);
    }
    for intervals in report.intervals.values_mut() {
        intervals.sort_by_key(|i| (i.start, i.end));
    }

    // One owner per name, and increasing tokens.
    let mut violations = Vec::new();
    for intervals in report.intervals.values() {
        let mut latest: Option<&Interval> = None;
        let mut previous: Option<&Interval> = None;
        for interval in intervals {
            if let Some(l) = latest
                && interval.start < l.end
                && !interval.same_registration(l)
            {
                violations.push((ViolationKind::Overlap, l.clone(), interval.clone()));
            } else if let Some(p) = previous
                && interval.token <= p.token
                && !interval.same_registration(p)
            {
                violations.push((
                    ViolationKind::TokenNotIncreasing,
                    p.clone(),
                    interval.clone(),
                ));
            }
            if latest.is_none_or(|l| interval.end > l.end) {
                latest = Some(interval);
            }
            previous = Some(interval);
        }
    }
    for interval in after_death {
        let mut first = interval.clone();
        first.end = first.start;
        violations.push((ViolationKind::AfterDeath, first, interval));
    }
    violations.sort_by_key(|(_, first, second)| (second.start.max(first.start), first.start));
    report.violations = violations
        .into_iter()
        .map(|(kind, first, second)| {
            let context = context(&events, &first, &second);
            Violation {
                kind,
                first,
                second,
                context,
            }
        })
        .collect();

    report.longest_run_after_invalidation = run_after(&events, &report.intervals);
    report
}

/// [`check`] for semaphores of `limit` slots: no more than `limit` registrations hold a name
/// at any instant, and a dead member runs nothing. With `limit` 1 it is exactly [`check`].
///
/// Slot tokens are the contender keys' indexes, which increase in the order contenders
/// entered, not in the order slots were granted, so their order is not checked; a token is
/// still never shared by two registrations of different members.
pub fn check_limit(events: &[Event], limit: usize) -> CheckReport {
    let mut report = check(events);
    if limit <= 1 {
        return report;
    }
    let mut events = events.to_vec();
    events.sort_by_key(Event::t);
    report
        .violations
        .retain(|v| v.kind == ViolationKind::AfterDeath);
    let mut found = Vec::new();
    for intervals in report.intervals.values() {
        // Sweep in start order, keeping the intervals still running; intervals of one
        // registration (a shared guard) count once.
        let mut active: Vec<&Interval> = Vec::new();
        for interval in intervals {
            active.retain(|a| a.end > interval.start);
            if active.iter().any(|a| a.same_registration(interval)) {
                continue;
            }
            if active.len() >= limit {
                let earliest = active
                    .iter()
                    .min_by_key(|a| a.start)
                    .copied()
                    .unwrap_or(interval);
                found.push((earliest.clone(), interval.clone()));
            }
            active.push(interval);
        }
        let mut tokens: HashMap<u64, &Interval> = HashMap::new();
        for interval in intervals {
            if let Some(other) = tokens.insert(interval.token, interval)
                && other.member != interval.member
            {
                found.push((other.clone(), interval.clone()));
            }
        }
    }
    for (first, second) in found {
        let context = context(&events, &first, &second);
        report.violations.push(Violation {
            kind: ViolationKind::OverLimit,
            first,
            second,
            context,
        });
    }
    report
        .violations
        .sort_by_key(|v| (v.second.start.max(v.first.start), v.first.start));
    report
}

/// The events about the name or the two members, from a second before to half a second after.
fn context(events: &[Event], first: &Interval, second: &Interval) -> Vec<Event> {
    const BEFORE: u64 = 1_000_000_000;
    const AFTER: u64 = 500_000_000;
    const MAX: usize = 60;
    let from = first.start.min(second.start).saturating_sub(BEFORE);
    let to = first.end.max(second.end).min(second.start + 5 * BEFORE) + AFTER;
    let relevant = |event: &Event| {
        let about_name = match event {
            Event::Acquired { name, .. } | Event::Released { name, .. } => *name == first.name,
            _ => false,
        };
        let about_member = event
            .member()
            .is_some_and(|m| m == first.member || m == second.member);
        let global = matches!(event, Event::Fault { member: None, .. })
            || matches!(event, Event::SessionGone { session, .. } if *session == first.session || *session == second.session);
        about_name || (about_member && !matches!(event, Event::Stats { .. })) || global
    };
    let window: Vec<Event> = events
        .iter()
        .filter(|e| e.t() >= from && e.t() <= to && relevant(e))
        .cloned()
        .collect();
    if window.len() <= MAX {
        return window;
    }
    // Keep the part around the second interval's start.
    let pivot = window.partition_point(|e| e.t() < second.start);
    let lo = pivot.saturating_sub(MAX / 2);
    let hi = (lo + MAX).min(window.len());
    window[lo..hi].to_vec()
}

fn run_after(events: &[Event], intervals: &BTreeMap<String, Vec<Interval>>) -> Option<RunAfter> {
    let mut gone: HashMap<&str, (u64, &'static str)> = HashMap::new();
    for event in events {
        match event {
            Event::Invalidated { session, t, .. } => {
                gone.entry(session).or_insert((*t, "forced"));
            }
            Event::SessionGone { session, t } => {
                gone.entry(session).or_insert((*t, "expired"));
            }
            _ => {}
        }
    }
    intervals
        .values()
        .flatten()
        .filter_map(|i| {
            let &(t, cause) = gone.get(i.session.as_str())?;
            (i.start < t && i.end > t).then(|| RunAfter {
                nanos: i.end - t,
                member: i.member.clone(),
                name: i.name.clone(),
                cause,
            })
        })
        .max_by_key(|r| r.nanos)
}

fn short(session: &str) -> &str {
    session.get(..8).unwrap_or(session)
}

fn nanos_ms(nanos: u64) -> f64 {
    nanos as f64 / 1e6
}

fn ms(t: u64) -> String {
    format!("{:.3}", nanos_ms(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn acq(name: &str, member: &str, token: u64, t: u64) -> Event {
        Event::Acquired {
            name: name.into(),
            member: member.into(),
            session: format!("s-{member}"),
            token,
            t: t * MS,
        }
    }

    fn rel(name: &str, member: &str, token: u64, t: u64) -> Event {
        Event::Released {
            name: name.into(),
            member: member.into(),
            session: format!("s-{member}"),
            token,
            t: t * MS,
        }
    }

    #[test]
    fn a_semaphore_allows_limit_holders_and_flags_one_more() {
        // Two slots: m1 and m2 overlap (fine), tokens out of grant order (fine).
        let two = [
            acq("s", "m1", 20, 0),
            acq("s", "m2", 10, 10),
            rel("s", "m1", 20, 100),
            acq("s", "m3", 30, 100),
            rel("s", "m2", 10, 200),
            rel("s", "m3", 30, 300),
        ];
        let report = check_limit(&two, 2);
        assert!(report.violations.is_empty(), "{:?}", report.violations);
        assert!(
            !check(&two).violations.is_empty(),
            "one slot would be violated"
        );
        // A third holder while two still hold is over the limit.
        let three = [
            acq("s", "m1", 20, 0),
            acq("s", "m2", 10, 10),
            acq("s", "m3", 30, 50),
            rel("s", "m1", 20, 100),
            rel("s", "m2", 10, 200),
            rel("s", "m3", 30, 300),
        ];
        let report = check_limit(&three, 2);
        assert_eq!(report.violations.len(), 1, "{:?}", report.violations);
        let v = &report.violations[0];
        assert_eq!(v.kind, ViolationKind::OverLimit);
        assert_eq!(
            (v.first.member.as_str(), v.second.member.as_str()),
            ("m1", "m3")
        );
    }

    #[test]
    fn sequential_owners_with_increasing_tokens_pass() {
        let history = [
            acq("a", "m1", 10, 0),
            rel("a", "m1", 10, 100),
            acq("a", "m2", 12, 100),
            acq("b", "m1", 11, 150),
            rel("a", "m2", 12, 200),
            rel("b", "m1", 11, 300),
            acq("a", "m1", 13, 250),
        ];
        let report = check(&history);
        assert!(report.violations.is_empty(), "{:?}", report.violations);
        assert_eq!(report.interval_count(), 4);
        assert_eq!(report.unmatched_releases, 0);
        let a = &report.intervals["a"];
        assert_eq!(a[2].how, IntervalEnd::Open);
        assert_eq!(a[2].end, 300 * MS);
    }

    #[test]
    fn an_overlap_of_two_members_is_found_with_its_context() {
        let history = [
            acq("a", "m1", 10, 0),
            acq("a", "m2", 12, 50),
            rel("a", "m1", 10, 100),
            rel("a", "m2", 12, 200),
        ];
        let report = check(&history);
        assert_eq!(report.violations.len(), 1);
        let v = &report.violations[0];
        assert_eq!(v.kind, ViolationKind::Overlap);
        assert_eq!(
            (v.first.member.as_str(), v.second.member.as_str()),
            ("m1", "m2")
        );
        assert_eq!(v.context.len(), 4);
        let text = v.to_string();
        assert!(text.contains("overlap: 50.000 ms"), "{text}");
    }

    #[test]
    fn an_overlap_with_a_long_earlier_interval_is_found() {
        // m1 holds for long; m2 and m3 come and go inside it.
        let history = [
            acq("a", "m1", 10, 0),
            acq("a", "m2", 12, 50),
            rel("a", "m2", 12, 60),
            acq("a", "m3", 14, 70),
            rel("a", "m3", 14, 80),
            rel("a", "m1", 10, 100),
        ];
        let report = check(&history);
        assert_eq!(report.violations.len(), 2);
        assert!(report.violations.iter().all(|v| v.first.member == "m1"));
    }

    #[test]
    fn touching_intervals_do_not_overlap() {
        let history = [
            acq("a", "m1", 10, 0),
            rel("a", "m1", 10, 100),
            acq("a", "m2", 11, 100),
        ];
        assert!(check(&history).violations.is_empty());
    }

    #[test]
    fn tokens_must_increase_between_successive_owners() {
        let history = [
            acq("a", "m1", 10, 0),
            rel("a", "m1", 10, 100),
            acq("a", "m2", 9, 200),
            rel("a", "m2", 9, 300),
        ];
        let report = check(&history);
        assert_eq!(report.violations.len(), 1);
        assert_eq!(report.violations[0].kind, ViolationKind::TokenNotIncreasing);
    }

    #[test]
    fn a_killed_member_is_closed_at_its_death() {
        let history = [
            acq("a", "m1", 10, 0),
            Event::Killed {
                member: "m1".into(),
                t: 100 * MS,
            },
            acq("a", "m2", 11, 2000),
        ];
        let report = check(&history);
        assert!(report.violations.is_empty(), "{:?}", report.violations);
        let a = &report.intervals["a"];
        assert_eq!((a[0].end, a[0].how), (100 * MS, IntervalEnd::Died));

        // Without the kill record, m1 is still open and overlaps m2.
        let report = check(&[
            acq("a", "m1", 10, 0),
            acq("a", "m2", 11, 2000),
            rel("a", "m2", 11, 2100),
        ]);
        assert_eq!(report.violations[0].kind, ViolationKind::Overlap);
    }

    #[test]
    fn events_after_death_are_violations() {
        let history = [
            acq("a", "m1", 10, 0),
            Event::Killed {
                member: "m1".into(),
                t: 100 * MS,
            },
            rel("a", "m1", 10, 150),
        ];
        let report = check(&history);
        assert_eq!(report.violations[0].kind, ViolationKind::AfterDeath);
        assert_eq!(report.unmatched_releases, 1);
    }

    #[test]
    fn the_same_registration_held_twice_is_not_an_overlap() {
        let history = [
            acq("a", "m1", 10, 0),
            acq("a", "m1", 10, 10),
            rel("a", "m1", 10, 100),
        ];
        let report = check(&history);
        assert!(report.violations.is_empty());
    }

    #[test]
    fn measures_how_long_an_owner_ran_after_invalidation() {
        let history = [
            acq("a", "m1", 10, 0),
            Event::Invalidated {
                member: "m1".into(),
                session: "s-m1".into(),
                t: 100 * MS,
            },
            rel("a", "m1", 10, 130),
            acq("b", "m2", 11, 0),
            Event::SessionGone {
                session: "s-m2".into(),
                t: 500 * MS,
            },
            rel("b", "m2", 11, 480),
        ];
        let run = check(&history).longest_run_after_invalidation.expect("one");
        assert_eq!((run.nanos, run.cause), (30 * MS, "forced"));
        assert_eq!(run.member, "m1");
    }
}
