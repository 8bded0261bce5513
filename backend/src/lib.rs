//! Vigil's server: scraping, storage, PromQL, the HTTP API and the
//! dashboard app, in one process. See ARCHITECTURE.md for the data flow.

pub mod alerting;
pub mod api;
pub mod config;
pub mod dashboards;
pub mod notifier;
pub mod promql;
pub mod rules;
pub mod scrape;
pub mod server;
pub mod telemetry;
pub mod tsdb;
pub mod web;
