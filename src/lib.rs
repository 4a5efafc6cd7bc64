//! A terminal chat over WebSocket: a broadcast server and its client.
//!
//! # Layout
//!
//! - [`config`]: server settings and their defaults, as named constants.
//! - [`protocol`]: the wire protocol v1: events, commands, the connection URL;
//!   pure functions shared by the server and the client.
//! - `rate`: message rates, enforced by the server and kept by the client.
//! - [`sanitize`]: removal of characters that could drive a terminal.
//! - [`server`]: [`server::run`] serves chat on a listener until told to stop.
//! - [`client`]: [`client::run`] connects, sends typed lines, prints events.
//!
//! The binaries `server` and `client` only parse flags, set up logging and
//! signals, and call into this library.

pub mod client;
pub mod config;
pub mod protocol;
mod rate;
pub mod sanitize;
pub mod server;
