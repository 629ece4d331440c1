//! Integration tests of the `consuela` binary, run against an in-process dev
//! server on a free port.

mod support;
mod t01_run;
mod t02_leader;
mod t03_query;
mod t04_errors;
mod t05_demo;
mod t06_dev;
mod t07_tree;
mod t08_runner_safety;
mod t09_limit;
mod t10_tls;
mod t11_send;
