use super::*;

#[test]
fn decodes_consul_108_agent_views() {
    // transcripts/agent_service_register.json
    let services: BTreeMap<String, AgentService> = serde_json::from_str(
        r#"{"conf-web-1":{"ID":"conf-web-1","Service":"conf-web","Tags":["a","b"],"Address":"10.0.0.1",
            "Meta":{"version":"1"},"Port":8080,"EnableTagOverride":false,"CreateIndex":0,"ModifyIndex":0}}"#,
    )
    .unwrap();
    assert_eq!(services["conf-web-1"].port, 8080);
    let checks: BTreeMap<String, AgentCheck> = serde_json::from_str(
        r#"{"service:conf-web-1":{"Node":"n","CheckID":"service:conf-web-1","Name":"Service 'conf-web' check",
            "Status":"critical","Notes":"","Output":"","ServiceID":"conf-web-1","ServiceName":"conf-web",
            "ServiceTags":["a","b"],"Definition":{},"CreateIndex":0,"ModifyIndex":0}}"#,
    )
    .unwrap();
    let c = &checks["service:conf-web-1"];
    assert_eq!(c.status, HealthStatus::Critical);
    let out = serde_json::to_string(c).unwrap();
    assert!(
        out.starts_with(r#"{"Node":"n","CheckID":"service:conf-web-1","Name""#),
        "{out}"
    );
    assert!(out.contains(r#""Definition":{}"#));
    assert_eq!(&serde_json::from_str::<AgentCheck>(&out).unwrap(), c);
}

#[test]
fn tolerates_newer_fields_and_missing_port() {
    let s: AgentService = serde_json::from_str(
        r#"{"ID":"x","Service":"x","Tags":null,"Meta":null,"Weights":{"Passing":1,"Warning":1},
            "Datacenter":"dc1","Kind":"","Proxy":{}}"#,
    )
    .unwrap();
    assert_eq!(s.port, 0);
    assert!(s.tags.is_empty());
    let c: AgentCheck = serde_json::from_str(
        r#"{"Node":"n","CheckID":"c","Status":"passing","Type":"ttl","Interval":"","Timeout":"","ExposedPort":0}"#,
    )
    .unwrap();
    assert_eq!(c.status, HealthStatus::Passing);
}

#[test]
fn registration_sends_only_set_fields() {
    let r = ServiceRegistration {
        name: "web".into(),
        port: Some(80),
        check: Some(CheckDefinition {
            ttl: Some("10s".into()),
            ..CheckDefinition::default()
        }),
        ..ServiceRegistration::default()
    };
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"{"Name":"web","Port":80,"Check":{"TTL":"10s"}}"#
    );
}

#[test]
fn decodes_agent_self() {
    let body = r#"{"Config":{"Datacenter":"dc1","NodeName":"n1","NodeID":"8a5e1f59-9d2b-4a52-a6f0-1c6a2a3f9e10",
        "Revision":"abc","Server":true,"Version":"1.0.8","PrimaryDatacenter":"dc1"},"Coord":null,
        "DebugConfig":{},"Member":{"Name":"n1","Addr":"127.0.0.1","Port":8301,"Tags":{"role":"consul"},
        "Status":1,"ProtocolMin":1,"ProtocolMax":5,"ProtocolCur":2,"DelegateMin":2,"DelegateMax":5,
        "DelegateCur":4},"Meta":{},"Stats":{},"xDS":{}}"#;
    let s: AgentSelf = serde_json::from_str(body).unwrap();
    assert_eq!(s.config.node_name.as_str(), "n1");
    assert_eq!(s.member.tags["role"], "consul");
}
