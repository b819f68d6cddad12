//! The node crate's integration tests, in one test binary: one link of the node and
//! its dependencies instead of one per file.

mod api;
mod limits_doc;
mod store_crash;
