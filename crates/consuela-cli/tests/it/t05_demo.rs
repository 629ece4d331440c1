//! `consuela demo` runs its whole scenario.

use crate::support::{bare, output};

#[tokio::test]
async fn demo_finishes_successfully() {
    let out = output(bare(&["demo"])).await;
    assert_eq!(out.code, 0, "{out:?}");
    for needle in [
        "refused, held by alpha#",
        "takes over cron/scheduler",
        "no lock-delay",
        "STEP",
    ] {
        assert!(out.stdout.contains(needle), "{needle:?} missing: {out:?}");
    }
}
