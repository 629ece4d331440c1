//! A member process of the safety run: see `consuela_testkit::safety::member`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    consuela_testkit::safety::member::main(&args)
}
