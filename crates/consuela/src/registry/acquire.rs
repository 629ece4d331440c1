//! The acquire decision: what Consul's answer to a registration means, as
//! data and without I/O (the register procedure in `register.rs` carries it out).

use crate::consul::Acquired;
use crate::error::{Error, ErrorKind, LostReason, Refusal};
use crate::token::FencingToken;

/// What to do after an acquisition attempt.
#[derive(Debug)]
pub(crate) struct Decision {
    /// The acquisition may have taken effect without our knowing: hand the
    /// name to the reaper, which removes the key if it is ours.
    pub(crate) zombie: bool,
    /// What the registration becomes.
    pub(crate) step: Step,
}

/// What a registration becomes.
#[derive(Debug)]
pub(crate) enum Step {
    /// We hold the name: record it locally, report `Registered`.
    Hold(FencingToken),
    /// Another session holds it: read who, report `Conflict`, answer
    /// `AlreadyRegistered`.
    Conflict,
    /// Consul's lock-delay blocks it: report `LockDelayed`, answer `LockDelay`.
    LockDelay,
    /// Our session is gone: fail-stop, report `RegisterFailed`.
    FailStop(LostReason),
    /// Any other failure: report `RegisterFailed` and answer it.
    Fail(Error),
}

/// Decides on the answer to one acquisition (a timeout arrives as an
/// [`ErrorKind::Unknown`] error).
pub(crate) fn decide(answer: Result<Acquired, Error>) -> Decision {
    let settled = |step| Decision {
        zombie: false,
        step,
    };
    match answer {
        Ok(Acquired::Held(token)) => settled(Step::Hold(token)),
        Ok(Acquired::Taken) => settled(Step::Conflict),
        Ok(Acquired::LockDelay) => settled(Step::LockDelay),
        Ok(Acquired::SessionGone) => settled(Step::FailStop(LostReason::Invalidated)),
        // Still no leader when the registration ran out of time. Consul says
        // nothing was applied, but like every 500 it cannot prove it: the
        // reaper checks.
        Ok(Acquired::NoLeader) => Decision {
            zombie: true,
            step: Step::Fail(Error::with_source(
                ErrorKind::Unknown,
                Refusal("No cluster leader".into()),
            )),
        },
        Ok(Acquired::Refused(what)) => settled(Step::Fail(Error::with_source(
            ErrorKind::Rejected,
            Refusal(what),
        ))),
        // Certainly not applied: nothing to reconcile.
        Err(e) if matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Rejected) => {
            settled(Step::Fail(e))
        }
        // Maybe applied.
        Err(e) => Decision {
            zombie: true,
            step: Step::Fail(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn elapsed() -> Error {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(1), std::future::pending::<()>()).await
        })
        .unwrap_err()
        .into()
    }

    #[test]
    fn definite_answers_never_leave_a_zombie() {
        let cases = [
            (Acquired::Held(FencingToken::new(7)), "hold 7"),
            (Acquired::Taken, "conflict"),
            (Acquired::LockDelay, "lock-delay"),
            (Acquired::SessionGone, "fail-stop"),
            (
                Acquired::Refused("permission denied".into()),
                "fail rejected",
            ),
        ];
        for (answer, expected) in cases {
            let decision = decide(Ok(answer));
            assert!(!decision.zombie, "{expected}");
            let got = match decision.step {
                Step::Hold(token) => format!("hold {token}"),
                Step::Conflict => "conflict".into(),
                Step::LockDelay => "lock-delay".into(),
                Step::FailStop(LostReason::Invalidated) => "fail-stop".into(),
                Step::FailStop(other) => format!("fail-stop {other:?}"),
                Step::Fail(e) if matches!(e.kind(), ErrorKind::Rejected) => {
                    assert_eq!(
                        std::error::Error::source(&e).unwrap().to_string(),
                        "permission denied"
                    );
                    "fail rejected".into()
                }
                Step::Fail(e) => format!("fail {e}"),
            };
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn no_leader_after_the_last_retry_is_unknown_and_checked_by_the_reaper() {
        let decision = decide(Ok(Acquired::NoLeader));
        assert!(decision.zombie);
        assert!(
            matches!(decision.step, Step::Fail(ref e) if matches!(e.kind(), ErrorKind::Unknown))
        );
    }

    #[test]
    fn only_answers_that_may_have_applied_go_to_the_reaper() {
        for (error, zombie) in [
            (Error::new(ErrorKind::Unavailable), false),
            (Error::new(ErrorKind::Rejected), false),
            (Error::new(ErrorKind::Unknown), true),
            (elapsed(), true),
        ] {
            let kind = format!("{:?}", error.kind());
            let decision = decide(Err(error));
            assert_eq!(decision.zombie, zombie, "{kind}");
            assert!(
                matches!(decision.step, Step::Fail(ref e) if format!("{:?}", e.kind()) == kind),
                "{kind}"
            );
        }
    }
}
