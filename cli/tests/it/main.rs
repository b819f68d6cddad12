//! The `carnet` command's integration tests, in one test binary: the binary run as
//! people run it.

mod audit;
mod browser;
mod everyday;
mod import;
mod members;
mod network_rules;
mod node_run;
mod readme_tour;
mod trading;
mod web;
mod web_trade;

use std::process::{Command, Output};

/// The `carnet` binary, with none of the variables that would point it at the
/// developer's own key, node or data directory.
pub fn carnet_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_carnet"));
    clean_env(&mut cmd);
    cmd
}

/// Removes from `cmd` the variables that would point `carnet` at the developer's own
/// key, node or data directory.
pub fn clean_env(cmd: &mut Command) -> &mut Command {
    for var in [
        "CARNET_KEY",
        "CARNET_NODE",
        "CARNET_DATA_DIR",
        "CARNET_ADMIN_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `carnet ARGS` to the end.
pub fn carnet(args: &[&str]) -> Output {
    carnet_command().args(args).output().expect("run carnet")
}
