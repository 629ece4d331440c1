use super::*;

#[test]
fn tombstones_are_reaped_after_their_ttl() {
    let mut kv = Kv::default();
    let t0 = Instant::now();
    let ttl = Duration::from_secs(60);
    kv.reap_tombstones(t0, 0, ttl);
    kv.bury("a", 5);
    kv.reap_tombstones(t0 + Duration::from_secs(2), 5, ttl);
    kv.bury("b", 6);
    kv.reap_tombstones(t0 + Duration::from_secs(63), 6, ttl);
    assert!(!kv.tombstones.contains_key("a"), "a is older than the TTL");
    assert!(
        kv.tombstones.contains_key("b"),
        "b was buried after the mark that expired"
    );
    kv.reap_tombstones(t0 + Duration::from_secs(200), 6, ttl);
    assert!(kv.tombstones.is_empty());
}

#[test]
fn prefix_index_counts_tombstones_and_falls_back_to_the_table() {
    let mut kv = Kv::default();
    kv.entries.insert(
        "p/a".into(),
        KvRecord {
            value: None,
            flags: 0,
            lock_index: 0,
            session: None,
            create_index: 3,
            modify_index: 3,
        },
    );
    kv.bury("p/b", 7);
    assert_eq!(kv.prefix_index("p/", 9), 7);
    assert_eq!(kv.prefix_index("q/", 9), 9);
    assert_eq!(kv.prefix_index("", 0), 1);
}
