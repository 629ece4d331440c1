//! `consuela whereis`, `ls` and `watch`.

use consuela::{Config, Contact, Registry};

use crate::support::Env;

async fn member(env: &Env, name: &str) -> Registry {
    let mut config = Config::new(env.server.state().config().node_name.clone(), "consuela");
    config.consul.url = Some(env.server.url());
    config.member = Some(name.to_owned());
    Registry::start(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whereis_and_ls_show_the_owners() {
    let env = Env::start().await;
    let registry = member(&env, "q1").await;
    let a = registry
        .register(
            "q/a",
            Contact::at("10.0.0.1:1")
                .with_meta(&serde_json::json!({"k": "v"}))
                .unwrap(),
        )
        .await
        .unwrap();
    let _b = registry.register("q/b", Contact::default()).await.unwrap();
    let _other = registry
        .register("other", Contact::default())
        .await
        .unwrap();

    let out = env.output(&["whereis", "q/a"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let mut lines = out.stdout.lines();
    assert!(lines.next().unwrap().starts_with("NAME"), "{out:?}");
    let row = lines.next().unwrap();
    assert!(row.starts_with("q/a"), "{row}");
    assert!(row.contains("q1#") && row.contains("10.0.0.1:1"), "{row}");
    assert!(row.ends_with(&a.fencing_token().to_string()), "{row}");

    let out = env.output(&["ls", "q/", "--json"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let listed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["name"], "q/a");
    assert_eq!(listed[0]["member"], "q1");
    assert_eq!(listed[0]["address"], "10.0.0.1:1");
    assert_eq!(listed[0]["meta"]["k"], "v");
    assert_eq!(listed[0]["fencing_token"], a.fencing_token().get());
    assert_eq!(listed[1]["name"], "q/b");

    // Connection flags also work after the command.
    let out = crate::support::output(crate::support::bare(&[
        "ls",
        "q/",
        "--consul",
        &env.server.url(),
    ]))
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.lines().count(), 3, "{out:?}");

    let out = env.output(&["ls"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.lines().count(), 4, "{out:?}");

    let out = env.output(&["whereis", "q/none"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    registry.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_one_line_per_change() {
    let env = Env::start().await;
    let registry = member(&env, "w1").await;
    let first = registry.register("w/a", Contact::at("h:1")).await.unwrap();

    let mut watch = env.spawn(&["watch", "w/"]);
    let line = watch.line().await;
    assert!(line.starts_with("+ w/a w1#"), "{line}");
    assert!(
        line.ends_with(&format!("token={}", first.fencing_token())),
        "{line}"
    );

    let second = registry.register("w/b", Contact::default()).await.unwrap();
    let line = watch.line().await;
    assert!(
        line.starts_with("+ w/b w1#") && line.contains(" - "),
        "{line}"
    );
    second.unregister().await.unwrap();
    let line = watch.line().await;
    assert!(line.starts_with("- w/b w1#"), "{line}");

    watch.signal(rustix::process::Signal::INT);
    assert_eq!(watch.wait().await.code(), Some(0));
    registry.shutdown().await.unwrap();
}
