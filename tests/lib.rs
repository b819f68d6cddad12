//! Helpers shared by the multi-node integration tests.
