use super::*;

#[test]
fn decodes_consul_108_health_entry() {
    // transcripts/health_service.json (placeholders made concrete).
    let body = r#"[{"Node":{"ID":"8a5e1f59-9d2b-4a52-a6f0-1c6a2a3f9e10","Node":"n1","Address":"127.0.0.1",
        "Datacenter":"dc1","TaggedAddresses":{"lan":"127.0.0.1","wan":"127.0.0.1"},
        "Meta":{"consul-network-segment":""},"CreateIndex":5,"ModifyIndex":6},
      "Service":{"ID":"conf-api-1","Service":"conf-api","Tags":["a","b"],"Address":"10.0.0.1",
        "Meta":{"version":"1"},"Port":8080,"EnableTagOverride":false,"CreateIndex":20,"ModifyIndex":20},
      "Checks":[{"Node":"n1","CheckID":"serfHealth","Name":"Serf Health Status","Status":"passing","Notes":"",
        "Output":"Agent alive and reachable","ServiceID":"","ServiceName":"","ServiceTags":[],"Definition":{},
        "CreateIndex":5,"ModifyIndex":5},
        {"Node":"n1","CheckID":"service:conf-api-1","Name":"Service 'conf-api' check","Status":"critical",
        "Notes":"","Output":"","ServiceID":"conf-api-1","ServiceName":"conf-api","ServiceTags":["a","b"],
        "Definition":{},"CreateIndex":20,"ModifyIndex":20}]}]"#;
    let entries: Vec<HealthServiceEntry> = serde_json::from_str(body).unwrap();
    assert!(!entries[0].is_passing());
    let out = serde_json::to_string(&entries).unwrap();
    assert_eq!(
        serde_json::from_str::<Vec<HealthServiceEntry>>(&out).unwrap(),
        entries
    );
}

#[test]
fn decodes_catalog_service_entry_with_newer_fields() {
    let e: Vec<CatalogServiceEntry> = serde_json::from_str(
        r#"[{"ID":"x","Node":"n","Address":"a","Datacenter":"dc1","TaggedAddresses":null,"NodeMeta":null,
            "ServiceKind":"","ServiceID":"web1","ServiceName":"web","ServiceTags":null,"ServiceAddress":"",
            "ServiceWeights":{"Passing":1,"Warning":1},"ServiceMeta":{},"ServicePort":8080,
            "ServiceSocketPath":"","ServiceEnableTagOverride":false,"ServiceProxy":{},"ServiceConnect":{},
            "CreateIndex":9,"ModifyIndex":9}]"#,
    )
    .unwrap();
    assert_eq!(e[0].service_port, 8080);
    assert!(e[0].service_tags.is_empty());
}

#[test]
fn status_parse_and_display() {
    assert_eq!("warning".parse::<HealthStatus>(), Ok(HealthStatus::Warning));
    assert_eq!(
        "bogus".parse::<HealthStatus>().unwrap_err().to_string(),
        "Invalid check status: 'bogus'"
    );
    assert_eq!(
        serde_json::to_string(&HealthStatus::Passing).unwrap(),
        "\"passing\""
    );
}
