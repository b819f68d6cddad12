//! Multi-node integration tests, in one test binary: real nodes on 127.0.0.1, one
//! link of the whole workspace instead of one per file.

mod adversary;
mod audit;
mod crash;
mod gaming;
mod network;
