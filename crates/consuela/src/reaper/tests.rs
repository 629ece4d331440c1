use std::time::Duration;

use tokio::time::Instant;

use super::state::{Attempt, Next, ReaperState};
use super::*;
use crate::holder::RegistrationId;
use crate::name::Name;
use crate::retry::RetryPolicy;
use crate::token::FencingToken;

const MS: Duration = Duration::from_millis(1);

fn zombie(n: u64) -> Zombie {
    Zombie {
        name: Name::new(format!("z{n}")).unwrap(),
        id: RegistrationId {
            member: "m".into(),
            rid: n,
        },
        fencing_token: Some(FencingToken::new(n)),
    }
}

fn policy() -> RetryPolicy {
    RetryPolicy::exponential(100 * MS, 2.0, Duration::from_secs(10)).max_attempts(3)
}

#[test]
fn reproduces_the_originals_reaper_dies_eventually_timeline() {
    let t0 = Instant::now();
    let mut s = ReaperState::new(&policy());
    // Enqueued with a drain attempt that fails: the budget is not spent.
    assert_eq!(s.enqueue(zombie(1), true, t0), Next::Drain);
    assert_eq!(
        s.attempted(Attempt::Failed, false, t0),
        Next::TryAt(t0 + 100 * MS)
    );
    // Timer 100 fired and failed, then 200, then 400, then give up.
    let t1 = t0 + 100 * MS;
    assert_eq!(
        s.attempted(Attempt::Failed, true, t1),
        Next::TryAt(t1 + 100 * MS)
    );
    let t2 = t1 + 100 * MS;
    assert_eq!(
        s.attempted(Attempt::Failed, true, t2),
        Next::TryAt(t2 + 200 * MS)
    );
    let t3 = t2 + 200 * MS;
    assert_eq!(
        s.attempted(Attempt::Failed, true, t3),
        Next::TryAt(t3 + 400 * MS)
    );
    let t4 = t3 + 400 * MS;
    assert_eq!(s.attempted(Attempt::Failed, true, t4), Next::GiveUp);
}

#[test]
fn success_pops_resets_budget_and_drains_back_to_back() {
    let t0 = Instant::now();
    let mut s = ReaperState::new(&policy());
    s.enqueue(zombie(1), false, t0);
    assert_eq!(s.enqueue(zombie(2), false, t0), Next::TryAt(t0 + 100 * MS));
    s.attempted(Attempt::Failed, true, t0 + 100 * MS);
    s.attempted(Attempt::Failed, true, t0 + 200 * MS);
    let t = t0 + 400 * MS;
    assert_eq!(s.attempted(Attempt::Reaped, true, t), Next::TryAt(t));
    assert_eq!(s.head(), Some(&zombie(2)));
    // The budget is whole again: three more failures before giving up.
    assert_eq!(
        s.attempted(Attempt::Failed, true, t),
        Next::TryAt(t + 100 * MS)
    );
    assert_eq!(s.attempted(Attempt::Stale, true, t), Next::Idle);
    assert_eq!(s.len(), 0);
    assert_eq!(s.next(), Next::Idle);
}

#[test]
fn drain_tries_now_and_fifo_order_holds_without_dedup() {
    let t0 = Instant::now();
    let mut s = ReaperState::new(&policy());
    s.enqueue(zombie(1), false, t0);
    s.enqueue(zombie(1), false, t0);
    assert_eq!(s.len(), 2, "no deduplication");
    assert_eq!(s.drain(), Next::Drain);
    // A failed drain keeps the armed retry timer and spends no budget.
    assert_eq!(
        s.attempted(Attempt::Failed, false, t0 + MS),
        Next::TryAt(t0 + 100 * MS)
    );
    assert_eq!(s.len(), 2);
}

#[test]
fn wall_clock_budget_gives_up_even_with_drain_failures_in_between() {
    let t0 = Instant::now();
    let mut s = ReaperState::new(
        &RetryPolicy::linear(Duration::from_secs(5)).max_total_timeout(Duration::from_secs(12)),
    );
    s.enqueue(zombie(1), true, t0);
    s.attempted(Attempt::Failed, false, t0);
    let mut t;
    let mut regular = 0;
    loop {
        match s.next() {
            Next::TryAt(at) => t = at,
            other => panic!("unexpected {other:?}"),
        }
        regular += 1;
        if s.attempted(Attempt::Failed, true, t) == Next::GiveUp {
            break;
        }
    }
    assert_eq!(t - t0, Duration::from_secs(12));
    assert_eq!(regular, 3, "attempts at 5 s, 10 s and 12 s, then give up");
}
