//! The member's side of Carnet, as a library: everything `carnet` does besides running
//! a node. Members sign locally with a key file they hold and talk to their org node's
//! HTTP API; nothing here needs a data directory.

pub mod api;
pub mod audit;
pub mod cardbook;
pub mod contact;
/// Bounce message parsing lives in `carnet-mail`, shared with the org node's checks;
/// re-exported so `carnet_client::dsn` and `crate::dsn` keep their paths.
pub use carnet_mail::dsn;
pub mod export;
pub mod import;
pub mod importer;
pub mod keyfile;
pub mod member;
pub mod phone;
pub mod ranges;
