use super::*;

#[test]
fn ops_serialize_compactly_and_round_trip() {
    let op = TxnOp::from(KvTxnOp {
        verb: KvVerb::Lock,
        key: "ns/name".into(),
        value: Some(b"v".to_vec()),
        session: Some(SessionId::from("5f0c7e2a-9d0b-4f63-b1e4-0a2b3c4d5e6f")),
        ..KvTxnOp::default()
    });
    let s = serde_json::to_string(&op).unwrap();
    assert_eq!(
        s,
        r#"{"KV":{"Verb":"lock","Key":"ns/name","Value":"dg==","Session":"5f0c7e2a-9d0b-4f63-b1e4-0a2b3c4d5e6f"}}"#
    );
    assert_eq!(serde_json::from_str::<TxnOp>(&s).unwrap(), op);
}

#[test]
fn unknown_verbs_are_kept() {
    let op: TxnOp = serde_json::from_str(r#"{"KV":{"Verb":"bogus","Key":"k"}}"#).unwrap();
    assert_eq!(op.kv.unwrap().verb, KvVerb::Unknown("bogus".into()));
    assert!(KvVerb::from("check-index").is_read());
    assert!(!KvVerb::from("delete-tree").is_read());
}

#[test]
fn decodes_consul_108_success_and_failure_bodies() {
    // transcripts/txn_lock_ops.json and txn_failure.json (read-only shape).
    let ok: TxnResponse = serde_json::from_str(
        r#"{"Results":[{"KV":{"LockIndex":1,"Key":"k","Flags":0,"Value":null,"Session":"s","CreateIndex":9,"ModifyIndex":9}}],"Errors":null}"#,
    )
    .unwrap();
    assert_eq!(ok.results.unwrap()[0].kv.as_ref().unwrap().lock_index, 1);
    let bad: TxnResponse = serde_json::from_str(
        r#"{"Results":null,"Errors":[{"OpIndex":0,"What":"key \"k\" doesn't exist"}],"Index":0,"LastContact":0,"KnownLeader":true,"ConsistencyLevel":""}"#,
    )
    .unwrap();
    assert_eq!(bad.errors.unwrap()[0].what, "key \"k\" doesn't exist");
    assert!(bad.results.is_none());
}
