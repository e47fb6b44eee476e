#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Integration tests of the real `patrol` binary (one test binary, modules inside).

mod client;
mod config;
mod dev;
mod inspect;
mod logs;
mod migrate;
mod scan;
mod scan_report;
mod support;
