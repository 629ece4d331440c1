//! `Registry::spawn`: a future runs only while its name is held.

use std::time::Duration;

use consuela::{Contact, ErrorKind, LostReason};
use consuela_testkit::wait_for;
use tokio::sync::oneshot;

use crate::support::{Cluster, SOON, namespace};

#[tokio::test]
async fn the_name_is_held_exactly_while_the_future_runs() {
    let cluster = Cluster::start().await;
    let ns = namespace("spawn");
    let r = cluster.registry(0, &ns).await;
    let observer = cluster.registry(1, &ns).await;
    let (finish, finished) = oneshot::channel::<()>();
    let task = r
        .spawn("worker", Contact::at("w"), async move {
            let _ = finished.await;
            42
        })
        .await
        .unwrap();
    let seen = observer
        .whereis("worker")
        .await
        .unwrap()
        .expect("held while running");
    assert_eq!(seen.fencing_token, task.fencing_token());
    let err = observer
        .spawn("worker", Contact::default(), async {})
        .await
        .unwrap_err();
    assert!(err.is_conflict());
    finish.send(()).unwrap();
    assert_eq!(task.join().await.unwrap(), 42);
    assert_eq!(
        observer.whereis("worker").await.unwrap(),
        None,
        "released when the future ends"
    );
    r.shutdown().await.unwrap();
    observer.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn the_future_is_aborted_when_ownership_is_lost() {
    let cluster = Cluster::start().await;
    let r = cluster.registry(0, &namespace("spawn-lost")).await;
    let (dropped_tx, dropped) = oneshot::channel::<()>();
    let task = r
        .spawn("doomed", Contact::default(), async move {
            let _guard = DropSignal(Some(dropped_tx));
            std::future::pending::<()>().await;
        })
        .await
        .unwrap();
    cluster
        .client()
        .session()
        .destroy(r.session())
        .await
        .unwrap();
    tokio::time::timeout(SOON, dropped)
        .await
        .expect("the future is dropped")
        .unwrap();
    let err = task.join().await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::SessionLost(LostReason::Invalidated)),
        "{err}"
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn stop_and_shutdown_end_spawned_futures_before_releasing() {
    let cluster = Cluster::start().await;
    let ns = namespace("spawn-stop");
    let r = cluster.registry(0, &ns).await;
    let observer = cluster.registry(1, &ns).await;
    let stopped = r
        .spawn("a", Contact::default(), std::future::pending::<()>())
        .await
        .unwrap();
    stopped.stop();
    assert!(matches!(
        stopped.join().await.unwrap_err().kind(),
        ErrorKind::Stopped
    ));
    wait_for(
        SOON,
        "a is released",
        || observer.whereis("a"),
        |o| matches!(o, Ok(None)),
    )
    .await
    .unwrap();
    let running = r
        .spawn(
            "b",
            Contact::default(),
            tokio::time::sleep(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    r.shutdown().await.unwrap();
    assert!(
        running.is_finished(),
        "shutdown waits for spawned futures to stop"
    );
    assert!(matches!(
        running.join().await.unwrap_err().kind(),
        ErrorKind::Shutdown
    ));
    assert_eq!(observer.whereis("b").await.unwrap(), None);
    observer.shutdown().await.unwrap();
    cluster.shutdown().await;
}

struct DropSignal(Option<oneshot::Sender<()>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}
