#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! patrol-server's one integration-test binary: the verify path end to end
//! through the real HTTP surface, with PATs made through the ADO PAT API.

mod admin;
mod bench;
mod bench_pats;
mod connections;
mod contract;
mod forward_auth;
mod identity;
mod introspection;
mod leaks;
mod lifecycle;
mod limits;
mod logs;
mod notifications;
mod openapi;
mod postgres;
mod replicas;
mod scim;
mod support;
mod usage;
mod web;
