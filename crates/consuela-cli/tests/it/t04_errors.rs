//! Errors: one clear line on stderr and a non-zero exit; help has examples;
//! the sample configuration parses.

use crate::support::{Env, bare, output};

#[tokio::test]
async fn bad_flags_exit_2() {
    let out = output(bare(&["run", "--bogus", "x", "--", "true"])).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--bogus"), "{out:?}");
    let out = output(bare(&["run", "x"])).await;
    assert_eq!(out.code, 2, "a command is required: {out:?}");
}

#[tokio::test]
async fn unreachable_consul_is_one_line_and_exit_70() {
    for args in [
        &["ls"][..],
        &["whereis", "x"],
        &["run", "x", "--", "true"],
        &["leader", "x", "--", "true"],
    ] {
        let mut command = bare(&["--consul", "http://127.0.0.1:1"]);
        command.args(args);
        let out = output(command).await;
        assert_eq!(out.code, 70, "{args:?}: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {out:?}");
        assert!(
            out.stderr
                .starts_with("consuela: cannot reach Consul at http://127.0.0.1:1"),
            "{args:?}: {out:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_config_file_is_one_line_and_exit_70() {
    let env = Env::start().await;
    let file = std::env::temp_dir().join(format!("consuela-cli-bad-{}.toml", std::process::id()));
    std::fs::write(&file, "[session]\nttl = \"1s\"\n").unwrap();
    let mut command = bare(&["--consul", &env.server.url(), "--config"]);
    command.arg(&file).arg("ls");
    let out = output(command).await;
    std::fs::remove_file(&file).unwrap();
    assert_eq!(out.code, 70, "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.contains("ttl"), "{out:?}");
}

#[tokio::test]
async fn every_command_has_an_example_in_its_help() {
    for command in [
        &[][..],
        &["run"],
        &["leader"],
        &["whereis"],
        &["ls"],
        &["watch"],
        &["send"],
        &["demo"],
        &["dev"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let out = output(bare(&args)).await;
        assert_eq!(out.code, 0, "{command:?}: {out:?}");
        assert!(out.stdout.contains("Examples:"), "{command:?}: {out:?}");
    }
    let out = output(bare(&["run", "--help"])).await;
    assert!(
        out.stdout.contains("75") && out.stdout.contains("76"),
        "{out:?}"
    );
}

#[test]
fn the_sample_config_sets_every_option_and_parses() {
    let text = include_str!("../../../../consuela.toml");
    let config = consuela::Config::from_toml(text).unwrap();
    // Every option is written out, so the file doubles as a reference.
    let written: toml::Table = text.parse().unwrap();
    let full: toml::Table = toml::Table::try_from(&config).unwrap();
    for (section, value) in &full {
        let Some(table) = value.as_table() else {
            assert!(written.contains_key(section), "{section} missing");
            continue;
        };
        for key in table.keys() {
            assert!(
                written.get(section).and_then(|s| s.get(key)).is_some(),
                "{section}.{key} missing from consuela.toml"
            );
        }
    }
}
