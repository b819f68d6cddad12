//! Sealed member keys for the web app (docs/web.md, "Keys"): each member's record as
//! its member uploaded it, with the time it was signed.

use super::*;

/// Member key → JSON of the upload's record and `at_ms` ([`StoredSealedKey`]). Sealed
/// under the member's password already; nothing more is added at rest.
const WEB_KEYS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("web_keys");

/// What the node keeps of a member's upload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredSealedKey {
    pub record: carnet_api::sealed_key::SealedKey,
    pub at_ms: u64,
}

impl Store {
    pub fn put_sealed_key(
        &self,
        member: &carnet_protocol::PublicKey,
        stored: &StoredSealedKey,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(stored)
            .map_err(|e| corrupt(format!("web key:{}", member.to_hex()), e.to_string()))?;
        let txn = self.begin_write("begin put web key")?;
        {
            let mut t = txn.open_table(WEB_KEYS).map_err(db_err("open web keys"))?;
            t.insert(&member.0, bytes.as_slice())
                .map_err(db_err("insert web key"))?;
        }
        txn.commit().map_err(db_err("commit put web key"))
    }

    pub fn sealed_key(
        &self,
        member: &carnet_protocol::PublicKey,
    ) -> Result<Option<StoredSealedKey>, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        let t = match txn.open_table(WEB_KEYS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(db_err("open web keys")(e)),
        };
        let Some(v) = t.get(&member.0).map_err(db_err("read web key"))? else {
            return Ok(None);
        };
        serde_json::from_slice(v.value())
            .map(Some)
            .map_err(|e| corrupt(format!("web key:{}", member.to_hex()), e.to_string()))
    }
}
