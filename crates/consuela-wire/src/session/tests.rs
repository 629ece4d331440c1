use super::*;

#[test]
fn decodes_consul_108_session_and_keeps_field_order() {
    // From transcripts/session_create_full.json.
    let body = r#"[{"ID":"5f0c7e2a-9d0b-4f63-b1e4-0a2b3c4d5e6f","Name":"conf-full","Node":"node1",
        "Checks":["serfHealth"],"LockDelay":1000000000,"Behavior":"delete","TTL":"10s",
        "CreateIndex":12,"ModifyIndex":12}]"#;
    let s: Vec<SessionEntry> = serde_json::from_str(body).unwrap();
    let s = &s[0];
    assert_eq!(s.behavior, Behavior::Delete);
    assert_eq!(s.lock_delay, GoDuration(1_000_000_000));
    assert_eq!(s.ttl, "10s");
    let keys: Vec<String> = match serde_json::to_value(s).unwrap() {
        serde_json::Value::Object(m) => m.keys().cloned().collect(),
        _ => unreachable!(),
    };
    let out = serde_json::to_string(s).unwrap();
    let order = [
        "\"ID\"",
        "\"Name\"",
        "\"Node\"",
        "\"Checks\"",
        "\"LockDelay\"",
        "\"Behavior\"",
        "\"TTL\"",
        "\"CreateIndex\"",
        "\"ModifyIndex\"",
    ];
    let pos: Vec<usize> = order.iter().map(|k| out.find(k).unwrap()).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{out}");
    assert_eq!(keys.len(), 9);
    assert_eq!(serde_json::from_str::<SessionEntry>(&out).unwrap(), *s);
}

#[test]
fn decodes_newer_session_with_node_and_service_checks() {
    let body = r#"{"ID":"5f0c7e2a-9d0b-4f63-b1e4-0a2b3c4d5e6f","Name":"","Node":"n","LockDelay":15000000000,
        "Behavior":"release","TTL":"","NodeChecks":["serfHealth"],
        "ServiceChecks":[{"ID":"service:web","Namespace":""}],"Namespace":"default",
        "CreateIndex":3,"ModifyIndex":3}"#;
    let s: SessionEntry = serde_json::from_str(body).unwrap();
    assert!(s.checks.is_empty());
    assert_eq!(
        s.all_checks(),
        vec![CheckId::from("serfHealth"), CheckId::from("service:web")]
    );
    let nulls: SessionEntry = serde_json::from_str(
        r#"{"ID":"x","Checks":null,"NodeChecks":null,"ServiceChecks":null,"LockDelay":"15s"}"#,
    )
    .unwrap();
    assert!(nulls.all_checks().is_empty());
    assert_eq!(nulls.lock_delay, GoDuration(15_000_000_000));
}

#[test]
fn request_serializes_only_set_fields() {
    let r = SessionRequest {
        ttl: Some("20s".into()),
        lock_delay: Some(GoDuration(0)),
        checks: Some(vec![]),
        behavior: Some(Behavior::Delete),
        ..SessionRequest::default()
    };
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"{"Checks":[],"LockDelay":"0s","Behavior":"delete","TTL":"20s"}"#
    );
    assert_eq!(
        serde_json::to_string(&SessionRequest::default()).unwrap(),
        "{}"
    );
}

#[test]
fn behavior_is_case_sensitive() {
    assert_eq!("delete".parse::<Behavior>(), Ok(Behavior::Delete));
    assert_eq!(
        "Delete".parse::<Behavior>().unwrap_err().to_string(),
        "Invalid Behavior setting 'Delete'"
    );
}
