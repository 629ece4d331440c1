//! The `counter` example as a test: three member processes (this binary,
//! run as `counter member ...`), one named counter actor, the holder killed
//! twice while a client sends increments by name. Every acknowledged
//! increment is counted exactly once, by the incarnation whose fencing
//! token acknowledged it, and each kill hands the counter to a new
//! incarnation.

#[path = "../examples/counter/cluster.rs"]
mod cluster;

#[tokio::main]
async fn main() -> cluster::Result<()> {
    let Some(report) = cluster::main(150).await? else {
        return Ok(());
    };

    assert_eq!(report.problems, Vec::<String>::new());
    assert_eq!(report.acknowledged, 150);
    assert_eq!(report.killed.len(), 2, "{report:?}");
    // One incarnation per kill, and one after the last; each counted what it
    // acknowledged (and at most the few calls that died with it).
    assert!(report.incarnations.len() >= 3, "{report:?}");
    let acknowledged: usize = report.incarnations.values().map(|i| i.acknowledged).sum();
    assert_eq!(acknowledged, 150);
    for (token, incarnation) in &report.incarnations {
        assert!(
            incarnation.counted >= incarnation.acknowledged,
            "incarnation {token}: {incarnation:?}"
        );
    }
    let pids: std::collections::HashSet<_> =
        report.incarnations.values().filter_map(|i| i.pid).collect();
    assert!(
        pids.len() >= 3,
        "the counter moved across processes: {report:?}"
    );
    eprintln!("counter: {report:?}");
    Ok(())
}
