//! `Registry::watch`: a live map of who owns what.

use std::time::Duration;

use consuela::{Contact, directory::Change};
use futures_util::StreamExt;

use crate::support::{Cluster, SOON, namespace};

async fn next(watch: &mut consuela::directory::RegistryWatch) -> Change {
    tokio::time::timeout(SOON, watch.next())
        .await
        .expect("a change arrives")
        .expect("the stream goes on")
        .expect("no read error")
}

#[tokio::test]
async fn watch_reports_registrations_releases_and_new_owners() {
    let cluster = Cluster::start().await;
    let ns = namespace("watch");
    let a = cluster.registry(0, &ns).await;
    let b = cluster.registry(1, &ns).await;
    let early = a.register("jobs/early", Contact::at("a")).await.unwrap();
    let _outside = a.register("other/x", Contact::default()).await.unwrap();
    let mut watch = b.watch_with(
        "jobs/",
        consuela::client::WatchConfig::default().wait(Duration::from_secs(5)),
    );
    match next(&mut watch).await {
        Change::Registered {
            name,
            holder: owner,
        } => {
            assert_eq!(name.as_str(), "jobs/early");
            assert_eq!(&owner.id, early.id());
        }
        other => panic!("{other:?}"),
    }
    let late = a.register("jobs/late", Contact::at("a")).await.unwrap();
    assert!(
        matches!(next(&mut watch).await, Change::Registered { name, .. } if name.as_str() == "jobs/late")
    );
    early.unregister().await.unwrap();
    assert!(
        matches!(next(&mut watch).await, Change::Unregistered { name, .. } if name.as_str() == "jobs/early")
    );
    // a hands jobs/late over to b between two reads.
    let token = late.fencing_token();
    late.unregister().await.unwrap();
    let taken = b.register("jobs/late", Contact::at("b")).await.unwrap();
    let change = next(&mut watch).await;
    match change {
        Change::OwnerChanged {
            previous, current, ..
        } => {
            assert_eq!(previous.fencing_token, token);
            assert_eq!(&current.id, taken.id());
        }
        // The two writes may also be seen one read apart.
        Change::Unregistered { .. } => {
            assert!(
                matches!(next(&mut watch).await, Change::Registered { holder: owner, .. } if owner.id == *taken.id())
            );
        }
        other => panic!("{other:?}"),
    }
    drop(taken);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    cluster.shutdown().await;
}
