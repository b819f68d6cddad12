//! The bounce checks' integration tests, in one test binary.

mod dkim;
mod dsn;
mod dsn_formats;
