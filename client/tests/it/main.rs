//! The member library's integration tests, in one test binary.

mod export;
mod import;
