use std::time::Duration;

use super::*;

const S: Duration = Duration::from_secs(1);

#[test]
fn defaults_match_the_original_but_renew_ten_times_per_ttl() {
    let c = Config::new("consul0", "default").validate().unwrap();
    assert_eq!(c.consul_url(), "http://consul0:8500");
    assert_eq!(c.session_name(), "default");
    assert_eq!(c.session.ttl, 20 * S);
    assert_eq!(c.session.lock_delay, 10 * S);
    // The one departure: the original renews every TTL/2 (see Interval::default).
    assert_eq!(c.renew_interval(), 2 * S);
    assert_eq!(c.registry.registration_timeout, 2 * S);
    assert_eq!(
        c.reaper.retry,
        RetryPolicy::linear(5 * S).max_total_timeout(600 * S)
    );
    assert_eq!(c.on_lost, OnLost::Stop);
}

#[test]
fn full_toml_round_trips() {
    let text = r#"
        nodename = "consul1"
        namespace = "billing/eu"
        member = "api-1"
        on_lost = "exit"

        [consul]
        url = "https://consul.internal:8501"
        token_file = "/run/secrets/consul"
        datacenter = "eu1"
        connect_timeout = "250ms"
        request_timeout = 3

        [session]
        name = "billing"
        ttl = "30s"
        lock_delay = "15s"
        checks = ["service:billing-api"]

        [keeper]
        interval = "1/3"
        margin = "1s"

        [reaper]
        shutdown_timeout = "10s"
        retry = { strategy = "exponential", delay = "100ms", max_delay = "5s", max_attempts = 10 }

        [registry]
        registration_timeout = "1500ms"
    "#;
    let c = Config::from_toml(text).unwrap();
    assert_eq!(c.consul.connect_timeout, Duration::from_millis(250));
    assert_eq!(c.consul.request_timeout, 3 * S);
    assert_eq!(c.renew_interval(), 10 * S);
    assert_eq!(c.keeper.margin, S);
    assert_eq!(c.session.checks, ["service:billing-api"]);
    assert_eq!(c.reaper.retry.max_attempts, Some(10));
    assert_eq!(c.on_lost, OnLost::Exit);
    let again = Config::from_toml(&toml::to_string(&c).unwrap()).unwrap();
    assert_eq!(again, c);
}

#[test]
fn intervals() {
    assert_eq!(
        Interval::Ratio(1, 3).resolve(20 * S),
        Duration::from_millis(6667)
    );
    assert_eq!(Interval::Fixed(4 * S).resolve(20 * S), 4 * S);
    let parse = |t: &str| {
        Config::from_toml(&format!(
            "nodename=\"n\"\nnamespace=\"x\"\n[keeper]\ninterval = {t}\n"
        ))
    };
    assert_eq!(parse("5").unwrap().renew_interval(), 5 * S);
    assert_eq!(
        parse("\"2500ms\"").unwrap().renew_interval(),
        Duration::from_millis(2500)
    );
    assert!(matches!(
        parse("\"1/1\""),
        Err(ConfigError::IntervalNotBelowTtl { .. })
    ));
    assert!(matches!(
        parse("\"0/2\""),
        Err(ConfigError::IntervalNotBelowTtl { .. })
    ));
    assert!(matches!(
        parse("\"1/0\""),
        Err(ConfigError::IntervalNotBelowTtl { .. })
    ));
    assert!(matches!(
        parse("\"30s\""),
        Err(ConfigError::IntervalNotBelowTtl { .. })
    ));
    assert!(matches!(parse("\"x/2\""), Err(ConfigError::Parse(_))));
}

#[test]
fn bad_configs_get_structured_errors() {
    let base = || Config::new("consul0", "ns");
    let mut c = base();
    c.session.ttl = 9 * S;
    assert!(matches!(
        c.validate(),
        Err(ConfigError::TtlOutOfRange { .. })
    ));
    let mut c = base();
    c.session.ttl = 86_401 * S;
    assert!(matches!(
        c.validate(),
        Err(ConfigError::TtlOutOfRange { .. })
    ));
    let mut c = base();
    c.session.ttl = 2 * S;
    c.session.ttl_min = S;
    assert!(c.validate().is_ok(), "a lowered agent floor is honoured");
    let mut c = base();
    c.session.lock_delay = 61 * S;
    assert_eq!(c.validate(), Err(ConfigError::LockDelayTooLong(61 * S)));
    let mut c = base();
    c.keeper.interval = Interval::Fixed(20 * S);
    assert!(matches!(
        c.validate(),
        Err(ConfigError::IntervalNotBelowTtl { .. })
    ));
    let mut c = base();
    c.keeper.margin = 20 * S;
    assert!(matches!(
        c.validate(),
        Err(ConfigError::MarginNotBelowTtl { .. })
    ));
    assert_eq!(
        Config::new("", "ns").validate(),
        Err(ConfigError::EmptyNodename)
    );
    assert!(matches!(
        Config::new("n", "a//b").validate(),
        Err(ConfigError::Namespace(_))
    ));
    let mut c = base();
    c.member = Some(String::new());
    assert!(matches!(c.validate(), Err(ConfigError::Member(_))));
    let mut c = base();
    c.consul.token = Some("t".into());
    c.consul.token_file = Some("/f".into());
    assert_eq!(c.validate(), Err(ConfigError::TokenConflict));
    let mut c = base();
    c.reaper.retry = RetryPolicy::linear(S);
    assert!(matches!(
        c.validate(),
        Err(ConfigError::Retry {
            component: "reaper",
            ..
        })
    ));
    let mut c = base();
    c.registry.registration_timeout = Duration::ZERO;
    assert!(matches!(c.validate(), Err(ConfigError::ZeroTimeout(_))));
}

#[test]
fn the_originals_sections_are_validated() {
    let base = || Config::new("consul0", "ns");
    let mut c = base();
    c.consul.max_connections = Some(0);
    assert_eq!(
        c.validate(),
        Err(ConfigError::ZeroLimit("consul.max_connections"))
    );
    let mut c = base();
    c.consul.max_response_size = Some(0);
    assert_eq!(
        c.validate(),
        Err(ConfigError::ZeroLimit("consul.max_response_size"))
    );
    let mut c = base();
    c.leader.retry = RetryPolicy::linear(S);
    assert!(matches!(
        c.validate(),
        Err(ConfigError::Retry {
            component: "leader",
            ..
        })
    ));
    let mut c = base();
    c.session.bind_presence = true;
    assert_eq!(c.clone().validate(), Err(ConfigError::BindWithoutPresence));
    c.presence = Some(PresenceConfig::new(""));
    assert_eq!(
        c.clone().validate(),
        Err(ConfigError::EmptyService("presence"))
    );
    c.presence = Some(PresenceConfig::new("api"));
    assert!(c.validate().is_ok());
    let mut c = base();
    c.discovery = Some(DiscoveryConfig::new(""));
    assert_eq!(c.validate(), Err(ConfigError::EmptyService("discovery")));
    let c = Config::from_toml(
        "nodename = \"n\"\nnamespace = \"ns\"\n[presence]\nservice = \"api\"\n[presence.check]\nkind = \"ttl\"\n[discovery]\nservice = \"api\"\n[leader]\ngive_up = true\n",
    )
    .unwrap();
    assert_eq!(
        c.presence.map(|p| p.check),
        Some(PresenceCheck::Ttl { ttl: 10 * S })
    );
    assert_eq!(c.discovery.map(|d| d.wait), Some(30 * S));
    assert!(c.leader.give_up);
}

#[test]
fn toml_errors_are_parse_errors() {
    for bad in [
        "nodename = 1",
        "nodename = \"n\"\nnamespace = \"x\"\nbogus = 1",
        "nodename = \"n\"\nnamespace = \"x\"\n[session]\nttl = \"ten\"",
        "nodename = \"n\"\nnamespace = \"x\"\n[session]\nttl = \"-1s\"",
        "nodename = \"n\"\nnamespace = \"x\"\non_lost = \"panic\"",
    ] {
        assert!(
            matches!(Config::from_toml(bad), Err(ConfigError::Parse(_))),
            "{bad}"
        );
    }
}

#[test]
fn debug_never_shows_the_token() {
    let mut c = Config::new("n", "ns");
    c.consul.token = Some("s3cr3t".into());
    assert!(!format!("{c:?}").contains("s3cr3t"));
}

#[test]
fn the_consul_tls_section_reaches_the_client_config() {
    let c = Config::from_toml(
        "nodename = \"n\"\nnamespace = \"x\"\n[consul]\nurl = \"https://c:8501\"\n\
         http_auth = \"alice:pw\"\nnamespace = \"team\"\npartition = \"p\"\n\
         [consul.tls]\nca_path = \"/ca.d\"\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\n\
         server_name = \"server.dc1.consul\"\nverify = false\n",
    )
    .unwrap();
    let client = c.client_config();
    assert_eq!(
        client.tls.ca_path.as_deref(),
        Some(std::path::Path::new("/ca.d"))
    );
    assert_eq!(
        client.tls.client_cert.as_deref(),
        Some(std::path::Path::new("/c.pem"))
    );
    assert_eq!(
        client.tls.client_key.as_deref(),
        Some(std::path::Path::new("/k.pem"))
    );
    assert_eq!(client.tls.server_name.as_deref(), Some("server.dc1.consul"));
    assert!(client.tls.danger_accept_invalid_certs);
    assert_eq!(client.namespace.as_deref(), Some("team"));
    assert_eq!(client.partition.as_deref(), Some("p"));
    let auth = client.http_auth.unwrap();
    assert_eq!((auth.username(), auth.expose_password()), ("alice", "pw"));
    assert!(!format!("{c:?}").contains("alice:pw"));

    let mut c = Config::new("n", "x");
    c.consul.ca_file = Some("/a.pem".into());
    assert_eq!(
        c.client_config().tls.ca_file.as_deref(),
        Some(std::path::Path::new("/a.pem"))
    );
    c.consul.tls.ca_file = Some("/b.pem".into());
    assert!(matches!(c.validate(), Err(ConfigError::CaFileConflict)));
    let mut c = Config::new("n", "x");
    c.consul.tls.cert_file = Some("/c.pem".into());
    assert!(matches!(c.validate(), Err(ConfigError::ClientCertificate)));
}
