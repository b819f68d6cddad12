//! The pinned genesis as an auditor receives it: a JSON file whose canonical bytes
//! are authoritative (docs/audit.md, "The genesis file").

use carnet_protocol::ledger::audit::hexfmt;
use carnet_protocol::{Genesis, Hash32};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// `format` of a genesis file.
pub const GENESIS_FORMAT: &str = "carnet-genesis/1";
/// Largest genesis file read (the canonical bytes are at most 64 KiB, hex doubles it).
pub const MAX_GENESIS_FILE_BYTES: usize = 512 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisFile {
    /// [`GENESIS_FORMAT`].
    pub format: String,
    /// The genesis' canonical encoding (docs/protocol.md, "Genesis").
    #[serde(with = "hexfmt::bytes")]
    pub canonical_hex: Vec<u8>,
    /// BLAKE3 of `canonical_hex`: the network id.
    #[serde(with = "hexfmt::hash")]
    pub network_id_hex: Hash32,
    /// The same genesis as JSON, for reading; it must match the canonical bytes.
    pub genesis: Value,
}

/// A genesis as readable JSON (byte strings in hex), as in docs/test-vectors/genesis.json.
pub fn readable(g: &Genesis) -> Value {
    json!({
        "version": g.version,
        "name": g.name,
        "founding_orgs": g.founding_orgs.iter()
            .map(|o| json!({"key": o.key.to_hex(), "name": o.name}))
            .collect::<Vec<_>>(),
        "rules": serde_json::to_value(&g.rules).unwrap_or(Value::Null),
        "created_ms": g.created_ms,
    })
}

impl GenesisFile {
    pub fn new(g: &Genesis) -> Self {
        GenesisFile {
            format: GENESIS_FORMAT.into(),
            canonical_hex: g.to_bytes(),
            network_id_hex: g.network_id(),
            genesis: readable(g),
        }
    }

    /// Parses a genesis file from untrusted bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_GENESIS_FILE_BYTES {
            return Err(format!(
                "the genesis file is {} bytes, over the limit of {MAX_GENESIS_FILE_BYTES}",
                bytes.len()
            ));
        }
        serde_json::from_slice(bytes).map_err(|e| format!("not a genesis file: {e}"))
    }

    /// The genesis, once the canonical bytes decode as a valid genesis whose hash is
    /// the stated network id and whose readable form matches.
    pub fn open(&self) -> Result<Genesis, String> {
        if self.format != GENESIS_FORMAT {
            return Err(format!(
                "format is {:?}, not {GENESIS_FORMAT:?}",
                self.format
            ));
        }
        let g = Genesis::decode(&self.canonical_hex)
            .map_err(|e| format!("canonical_hex is not a valid genesis: {e}"))?;
        if g.network_id() != self.network_id_hex {
            return Err(format!(
                "network_id_hex {} is not BLAKE3 of canonical_hex ({})",
                self.network_id_hex,
                g.network_id()
            ));
        }
        if readable(&g) != self.genesis {
            return Err("the readable genesis does not match canonical_hex".into());
        }
        Ok(g)
    }
}
