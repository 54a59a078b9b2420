//! The one Ferrostack binary's library half: wiring every service into a running cloud in
//! either shape (all-in-one `up`, or `serve --role ...`), the admin commands, and the
//! clouds.yaml writer. Tests start the whole cloud in-process through [`start`].

pub mod catalog;
pub mod clouds;
pub mod compute;
pub mod network;
pub mod seed;
pub mod server;
pub mod volume;

pub use server::{start, Running, StartOptions};
