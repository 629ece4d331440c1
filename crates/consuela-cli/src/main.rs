//! The `consuela` command line.
fn main() {}
