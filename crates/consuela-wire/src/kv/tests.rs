use super::*;

#[test]
fn decodes_a_consul_108_body_and_keeps_field_order() {
    // From transcripts/lock_acquire_release.json (indexes made concrete).
    let body = r#"[{"LockIndex":1,"Key":"conformance/RUN/lock","Flags":0,"Value":"djE=",
        "Session":"0b9a3b5e-1d9c-4d55-8f6e-3a0a6a2c1f10","CreateIndex":40,"ModifyIndex":41}]"#;
    let entries: Vec<KvEntry> = serde_json::from_str(body).unwrap();
    let e = &entries[0];
    assert_eq!(e.value.as_deref(), Some(&b"v1"[..]));
    assert_eq!(
        e.session.as_ref().unwrap().as_str(),
        "0b9a3b5e-1d9c-4d55-8f6e-3a0a6a2c1f10"
    );
    let out = serde_json::to_string(e).unwrap();
    assert!(out.starts_with(
        r#"{"LockIndex":1,"Key":"conformance/RUN/lock","Flags":0,"Value":"djE=","Session""#
    ));
    assert!(out.ends_with(r#""CreateIndex":40,"ModifyIndex":41}"#));
}

#[test]
fn null_value_and_missing_session() {
    let e: KvEntry = serde_json::from_str(
        r#"{"LockIndex":0,"Key":"k","Flags":18446744073709551615,"Value":null,"CreateIndex":5,"ModifyIndex":5}"#,
    )
    .unwrap();
    assert_eq!(e.flags, u64::MAX);
    assert_eq!(e.value, None);
    let out = serde_json::to_string(&e).unwrap();
    assert!(!out.contains("Session"));
    assert!(out.contains(r#""Value":null"#));
    assert_eq!(serde_json::from_str::<KvEntry>(&out).unwrap(), e);
}

#[test]
fn tolerates_newer_fields() {
    let e: KvEntry = serde_json::from_str(
        r#"{"LockIndex":0,"Key":"k","Flags":0,"Value":"","Namespace":"default","Partition":"default",
            "CreateIndex":5,"ModifyIndex":6}"#,
    )
    .unwrap();
    assert_eq!(e.value, None);
    assert_eq!(e.modify_index, Index(6));
}
