//! Integration tests: the real `server` and `client` binaries, driven by real
//! WebSocket clients, with exact assertions on what a person or program sees.
//!
//! One test binary with a module per area keeps `cargo test` to one link.

mod support;

mod addresses;
mod bans;
mod browser;
mod client;
mod cluster;
mod cluster_bounds;
mod cluster_moderation;
mod cluster_presence;
mod commands;
mod departures;
mod docs;
mod durable;
mod formats;
mod history;
mod hold;
mod hostile;
mod http;
mod ignores;
mod memory;
mod metrics;
mod moderation;
mod names;
mod presence;
mod readme;
mod reconnect;
mod registered;
mod rooms;
mod seed;
mod shutdown;
mod terminal;
mod tls;
