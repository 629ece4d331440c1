//! `consuela send`: a JSON message, or a call, to a name's mailbox; the
//! exit code says what became of it.

use std::time::Duration;

use consuela::config::MessagingConfig;
use consuela::{Config, Contact, Registry};

use crate::support::Env;

async fn owner(env: &Env) -> Registry {
    let mut config = Config::new(env.server.state().config().node_name.clone(), "consuela");
    config.consul.url = Some(env.server.url());
    config.member = Some("owner".to_owned());
    let mut messaging = MessagingConfig::listen(([127, 0, 0, 1], 0).into());
    messaging.capacity = 1;
    messaging.send_timeout = Duration::from_millis(100);
    config.messaging = Some(messaging);
    Registry::start(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_delivers_calls_answer_and_refusals_have_their_codes() {
    let env = Env::start().await;
    let registry = owner(&env).await;
    let (lease, mut mailbox) = registry
        .register_mailbox::<serde_json::Value>("jobs/inbox", Contact::default())
        .await
        .unwrap();

    let out = env
        .output(&["send", "jobs/inbox", r#"{"compact": "users"}"#])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("fencing token {}", lease.fencing_token())),
        "{out:?}"
    );
    let message = mailbox.recv().await.unwrap().into_message();
    assert_eq!(message, serde_json::json!({"compact": "users"}));

    // A call: the reply is printed on stdout.
    let call = tokio::spawn({
        let env_args = env.command(&[
            "send",
            "--call",
            "--timeout",
            "5s",
            "jobs/inbox",
            "\"status\"",
        ]);
        crate::support::output(env_args)
    });
    let envelope = mailbox.recv().await.unwrap();
    assert_eq!(envelope.message(), &serde_json::json!("status"));
    envelope.reply(&serde_json::json!({"ok": true}));
    let out = call.await.unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.trim(), r#"{"ok":true}"#);

    // Unanswered calls time out.
    let out = env
        .output(&["send", "--call", "--timeout", "200ms", "jobs/inbox", "1"])
        .await;
    assert_eq!(out.code, 77, "{out:?}");
    assert!(mailbox.recv().await.is_some(), "it was delivered");

    // Refusals.
    let out = env.output(&["send", "jobs/inbox", "{not json"]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("not JSON"), "{out:?}");
    let out = env.output(&["send", "jobs/nobody", "1"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    let out = env.output(&["send", "jobs//bad", "1"]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("empty segment"), "{out:?}");
    let stale = (lease.fencing_token().get() + 1).to_string();
    let out = env
        .output(&["send", "--fencing-token", &stale, "jobs/inbox", "1"])
        .await;
    assert_eq!(out.code, 74, "{out:?}");
    assert!(out.stderr.contains("stale"), "{out:?}");
    // A full mailbox (capacity 1): at once with --no-wait, else after the
    // owner's send_timeout.
    let out = env.output(&["send", "jobs/inbox", "1"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    for flags in [&["--no-wait"][..], &[]] {
        let mut args = vec!["send"];
        args.extend_from_slice(flags);
        args.extend(["jobs/inbox", "2"]);
        let out = env.output(&args).await;
        assert_eq!(out.code, 74, "{out:?}");
        assert!(out.stderr.contains("full"), "{out:?}");
    }
    assert_eq!(mailbox.len(), 1);
    let _plain = registry
        .register("plain", Contact::default())
        .await
        .unwrap();
    let out = env.output(&["send", "plain", "1"]).await;
    assert_eq!(out.code, 74, "{out:?}");
    registry.shutdown().await.unwrap();
}
