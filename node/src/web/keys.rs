//! Members' sealed keys (docs/web.md, "Keys"): the checks before the node keeps a
//! member's upload. Only the member can set its password (the upload is signed by the
//! key it seals), only members of this org have one here, and an upload older than
//! the one held is refused, so a captured upload cannot bring back an old password.

use crate::dedup::MAX_REQUEST_SKEW_MS;
use crate::engine::Engine;
use crate::store::web::StoredSealedKey;
use carnet_api::sealed_key::{SealError, SealedKeyUpload};
use carnet_protocol::PublicKey;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WebKeyError {
    #[error(transparent)]
    Record(#[from] SealError),
    #[error("the upload was signed at {at_ms}, more than 5 minutes from this node's clock ({now_ms}); check the clock and sign again")]
    Stale { at_ms: u64, now_ms: u64 },
    #[error(
        "this node holds an upload signed at {held}, not before this one ({at_ms}); sign a new one"
    )]
    Replayed { at_ms: u64, held: u64 },
    #[error("{0} is not an active member of this org")]
    NotMember(PublicKey),
    #[error("the store failed: {0}")]
    Storage(String),
}

impl WebKeyError {
    /// Stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            WebKeyError::Record(SealError::BadSignature) => "bad_signature",
            WebKeyError::Record(_) => "bad_record",
            WebKeyError::Stale { .. } => "stale_request",
            WebKeyError::Replayed { .. } => "replayed",
            WebKeyError::NotMember(_) => "not_member",
            WebKeyError::Storage(_) => "storage",
        }
    }
}

impl Engine {
    /// Keeps `upload` as its member's sealed key, after checking it (see the module
    /// docs). Returns the member.
    pub fn put_sealed_key(
        &mut self,
        upload: SealedKeyUpload,
        now_ms: u64,
    ) -> Result<PublicKey, WebKeyError> {
        let member = upload.verify(&self.network())?;
        if upload.at_ms.abs_diff(now_ms) > MAX_REQUEST_SKEW_MS {
            return Err(WebKeyError::Stale {
                at_ms: upload.at_ms,
                now_ms,
            });
        }
        let org = self.org();
        let ours = self
            .ledger()
            .state()
            .accounts
            .get(&member)
            .is_some_and(|a| a.org() == Some(org) && a.is_active());
        if !ours {
            return Err(WebKeyError::NotMember(member));
        }
        let store = self.store();
        let held = store
            .sealed_key(&member)
            .map_err(|e| WebKeyError::Storage(e.to_string()))?;
        if let Some(held) = held.filter(|h| h.at_ms >= upload.at_ms) {
            return Err(WebKeyError::Replayed {
                at_ms: upload.at_ms,
                held: held.at_ms,
            });
        }
        let stored = StoredSealedKey {
            record: upload.record,
            at_ms: upload.at_ms,
        };
        let r = store.put_sealed_key(&member, &stored);
        self.written(r)
            .map_err(|e| WebKeyError::Storage(e.to_string()))?;
        Ok(member)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carnet_api::sealed_key::seal;
    use carnet_protocol::SecretKey;

    const NOW: u64 = 1_800_000_000_000;
    const PASSWORD: &str = "correct horse battery";

    fn upload(key: &SecretKey, e: &Engine, at_ms: u64) -> SealedKeyUpload {
        let record = seal(key, PASSWORD, [1; 16], [2; 24]).unwrap();
        SealedKeyUpload::signed(key, &e.network(), record, at_ms)
    }

    #[test]
    fn a_member_sets_its_own_password_and_nobody_else_can() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, _, _) = crate::test_support::one_org_engine(dir.path());
        let (key, _) = crate::test_support::enroll(&mut e, 10);
        assert_eq!(
            e.put_sealed_key(upload(&key, &e, NOW), NOW),
            Ok(key.public())
        );
        let held = e.store().sealed_key(&key.public()).unwrap().unwrap();
        let opened = carnet_api::sealed_key::open(&held.record, PASSWORD).unwrap();
        assert_eq!(opened.seed(), key.seed());

        // The same upload again, or an older one: a replay.
        assert!(matches!(
            e.put_sealed_key(upload(&key, &e, NOW), NOW),
            Err(WebKeyError::Replayed { .. })
        ));
        // A later one replaces it.
        assert!(e.put_sealed_key(upload(&key, &e, NOW + 1), NOW + 1).is_ok());

        // Not a member of this org.
        let stranger = SecretKey::from_seed([77; 32]);
        assert_eq!(
            e.put_sealed_key(upload(&stranger, &e, NOW), NOW),
            Err(WebKeyError::NotMember(stranger.public()))
        );
        // Another key signing the member's record.
        let mut forged = upload(&stranger, &e, NOW + 2);
        forged.record = upload(&key, &e, NOW + 2).record;
        assert_eq!(
            e.put_sealed_key(forged, NOW + 2),
            Err(WebKeyError::Record(SealError::BadSignature))
        );
        // Signed long ago.
        assert!(matches!(
            e.put_sealed_key(upload(&key, &e, NOW - MAX_REQUEST_SKEW_MS - 1), NOW),
            Err(WebKeyError::Stale { .. })
        ));
        let held = e.store().sealed_key(&key.public()).unwrap().unwrap();
        assert_eq!(held.at_ms, NOW + 1, "no refused upload was kept");
    }
}
