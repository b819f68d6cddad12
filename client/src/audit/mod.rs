//! The auditor's side: verify a penalty bundle offline, with nothing but the pinned
//! genesis. No network, no data directory, no trust in any org.
//!
//! Verification is a list of named checks (docs/audit.md, "Checks"), each passing or
//! failing with a reason; a check that needs something an earlier check rejected is
//! skipped. The bundle is accepted only when no check fails, and the first failure is
//! the broken link to report.

mod bundle;
mod checkpoint;
pub mod genesis;
mod links;
mod opening;
mod report;
mod state;

use carnet_protocol::ledger::audit::{
    Bundle, CheckpointEvidence, CheckpointFile, BUNDLE_FORMAT, CHECKPOINT_FORMAT,
    MAX_BUNDLE_FILE_BYTES,
};
use carnet_protocol::Genesis;

pub use genesis::GenesisFile;
pub use report::{Check, Report, Status};

/// A file `carnet audit verify` reads: a bundle or a checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditFile {
    Bundle(Box<Bundle>),
    Checkpoint(Box<CheckpointFile>),
}

impl AuditFile {
    /// Parses untrusted bytes: at most [`MAX_BUNDLE_FILE_BYTES`], JSON, one of the
    /// two formats (told apart by `format`), no unknown fields.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_BUNDLE_FILE_BYTES {
            return Err(format!(
                "the file is {} bytes, over the limit of {MAX_BUNDLE_FILE_BYTES}",
                bytes.len()
            ));
        }
        #[derive(serde::Deserialize)]
        struct Head {
            format: String,
        }
        let head: Head =
            serde_json::from_slice(bytes).map_err(|e| format!("not an audit file: {e}"))?;
        match head.format.as_str() {
            BUNDLE_FORMAT => serde_json::from_slice(bytes)
                .map(|b| AuditFile::Bundle(Box::new(b)))
                .map_err(|e| format!("malformed bundle: {e}")),
            CHECKPOINT_FORMAT => serde_json::from_slice(bytes)
                .map(|c| AuditFile::Checkpoint(Box::new(c)))
                .map_err(|e| format!("malformed checkpoint file: {e}")),
            other => Err(format!(
                "unknown format {other:?} (expected {BUNDLE_FORMAT:?} or {CHECKPOINT_FORMAT:?})"
            )),
        }
    }

    fn checkpoint(&self) -> &CheckpointEvidence {
        match self {
            AuditFile::Bundle(b) => &b.checkpoint,
            AuditFile::Checkpoint(c) => &c.checkpoint,
        }
    }
}

/// Verifies `file` against `genesis`; with `later`, also that the later checkpoint is
/// final and that its events extend those of `file`'s checkpoint.
pub fn verify(file: &AuditFile, genesis: &Genesis, later: Option<&CheckpointFile>) -> Report {
    let mut r = Report::default();
    match file {
        AuditFile::Bundle(b) => bundle::verify_bundle(&mut r, b, genesis),
        AuditFile::Checkpoint(c) => {
            checkpoint::verify_checkpoint_file(&mut r, "", c, genesis);
        }
    }
    if let Some(l) = later {
        let final_ok = checkpoint::verify_checkpoint_file(&mut r, "later.", l, genesis);
        checkpoint::verify_later(&mut r, file.checkpoint(), l, final_ok);
    }
    r
}
