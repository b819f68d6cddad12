//! Held cards and bounce evidence, encrypted at rest under keys derived from the org key.

use super::*;

impl Store {
    /// Stores the card behind `listing`, encrypted under the org's at-rest key.
    /// `nonce` must be fresh randomness for every write: a nonce used twice under one
    /// key breaks ChaCha20-Poly1305.
    pub fn put_card(
        &self,
        listing: &ContentId,
        card: &Card,
        org_key: &SecretKey,
        nonce: [u8; CARD_NONCE_LEN],
    ) -> Result<(), StoreError> {
        let plain = to_canonical(card);
        let sealed = card_cipher(org_key)
            .encrypt(
                &nonce.into(),
                AeadPayload {
                    msg: &plain,
                    aad: listing.as_bytes(),
                },
            )
            .map_err(|_| corrupt(listing, "card does not encrypt"))?;
        let mut value = Vec::with_capacity(CARD_NONCE_LEN + sealed.len());
        value.extend_from_slice(&nonce);
        value.extend_from_slice(&sealed);
        let txn = self.begin_write("begin put card")?;
        {
            let mut cards = txn.open_table(CARDS).map_err(db_err("open cards"))?;
            cards
                .insert(&listing.0, value.as_slice())
                .map_err(db_err("insert card"))?;
        }
        txn.commit().map_err(db_err("commit put card"))
    }

    /// The card held for `listing`, if any. A key that does not open it is
    /// [`StoreError::CardKey`].
    pub fn get_card(
        &self,
        listing: &ContentId,
        org_key: &SecretKey,
    ) -> Result<Option<Card>, StoreError> {
        let value = {
            let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
            let cards = txn.open_table(CARDS).map_err(db_err("open cards"))?;
            let Some(v) = cards.get(&listing.0).map_err(db_err("read card"))? else {
                return Ok(None);
            };
            v.value().to_vec()
        };
        if value.len() < CARD_NONCE_LEN + CARD_TAG_LEN {
            return Err(corrupt(
                format!("card:{listing}"),
                format!("{} bytes, shorter than a nonce and a tag", value.len()),
            ));
        }
        let (nonce, sealed) = value.split_at(CARD_NONCE_LEN);
        let nonce: [u8; CARD_NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| corrupt(format!("card:{listing}"), "bad nonce"))?;
        let plain = card_cipher(org_key)
            .decrypt(
                &nonce.into(),
                AeadPayload {
                    msg: sealed,
                    aad: listing.as_bytes(),
                },
            )
            .map_err(|_| StoreError::CardKey { listing: *listing })?;
        let card = from_canonical(&plain, plain.len()).map_err(|e| {
            corrupt(
                format!("card:{listing}"),
                format!("decrypts but does not decode: {e}"),
            )
        })?;
        Ok(Some(card))
    }

    /// Listing ids of every card held: what this node can deliver.
    pub fn card_ids(&self) -> Result<Vec<ContentId>, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        let cards = txn.open_table(CARDS).map_err(db_err("open cards"))?;
        let mut out = Vec::new();
        for entry in cards.iter().map_err(db_err("scan cards"))? {
            let (key, _) = entry.map_err(db_err("read card key"))?;
            out.push(Hash32(*key.value()));
        }
        Ok(out)
    }

    /// Forgets the card behind `listing` (a contribution the ledger refused, or an
    /// opt-out). Absent cards are not an error.
    pub fn remove_card(&self, listing: &ContentId) -> Result<(), StoreError> {
        let txn = self.begin_write("begin remove card")?;
        {
            let mut cards = txn.open_table(CARDS).map_err(db_err("open cards"))?;
            cards.remove(&listing.0).map_err(db_err("remove card"))?;
        }
        txn.commit().map_err(db_err("commit remove card"))
    }

    /// Stores a piece of evidence (at most [`MAX_EVIDENCE_BYTES`]) under its
    /// evidence hash, which it returns, encrypted under the org's at-rest key like
    /// cards (a bounce message names the address that bounced). Storing the same
    /// bytes twice is harmless.
    pub fn put_evidence(&self, raw: &[u8], org_key: &SecretKey) -> Result<Hash32, StoreError> {
        if raw.len() > MAX_EVIDENCE_BYTES {
            return Err(StoreError::EvidenceTooLarge(raw.len()));
        }
        let hash = evidence_hash(raw);
        let sealed = evidence_cipher(org_key)
            .encrypt(
                &evidence_nonce(&hash).into(),
                AeadPayload {
                    msg: raw,
                    aad: hash.as_bytes(),
                },
            )
            .map_err(|_| corrupt(format!("evidence:{hash}"), "does not encrypt"))?;
        let txn = self.begin_write("begin put evidence")?;
        {
            let mut table = txn.open_table(EVIDENCE).map_err(db_err("open evidence"))?;
            table
                .insert(&hash.0, sealed.as_slice())
                .map_err(db_err("insert evidence"))?;
        }
        txn.commit().map_err(db_err("commit put evidence"))?;
        Ok(hash)
    }

    /// The evidence stored under `hash`, decrypted and re-hashed to catch a rotten
    /// disk. Evidence a node of protocol 3 stored in clear is still read.
    pub fn get_evidence(
        &self,
        hash: &Hash32,
        org_key: &SecretKey,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        let table = txn.open_table(EVIDENCE).map_err(db_err("open evidence"))?;
        let Some(v) = table.get(&hash.0).map_err(db_err("read evidence"))? else {
            return Ok(None);
        };
        let stored = v.value();
        let raw = evidence_cipher(org_key)
            .decrypt(
                &evidence_nonce(hash).into(),
                AeadPayload {
                    msg: stored,
                    aad: hash.as_bytes(),
                },
            )
            .unwrap_or_else(|_| stored.to_vec());
        if evidence_hash(&raw) != *hash {
            return Err(corrupt(
                format!("evidence:{hash}"),
                "the stored bytes no longer hash to their key",
            ));
        }
        Ok(Some(raw))
    }

    /// Deletes the evidence stored under `hash`, if any.
    pub fn remove_evidence(&self, hash: &Hash32) -> Result<(), StoreError> {
        let txn = self.begin_write("begin remove evidence")?;
        {
            let mut table = txn.open_table(EVIDENCE).map_err(db_err("open evidence"))?;
            table.remove(&hash.0).map_err(db_err("remove evidence"))?;
        }
        txn.commit().map_err(db_err("commit remove evidence"))
    }
}

/// The cipher for stored evidence: key = BLAKE3 derive-key("carnet v3 evidence at
/// rest", seed).
pub(super) fn evidence_cipher(org_key: &SecretKey) -> ChaCha20Poly1305 {
    let key = Hash32::derive(EVIDENCE_AT_REST_CONTEXT, &[&org_key.seed()]);
    ChaCha20Poly1305::new(&key.0.into())
}

/// Evidence is stored under its hash, so its nonce is derived from that hash: the
/// same bytes always encrypt alike (a retry rewrites the same value), and two
/// different messages get different nonces.
pub(super) fn evidence_nonce(hash: &Hash32) -> [u8; CARD_NONCE_LEN] {
    let n = Hash32::derive(EVIDENCE_NONCE_CONTEXT, &[hash.as_bytes()]);
    let mut nonce = [0u8; CARD_NONCE_LEN];
    nonce.copy_from_slice(&n.0[..CARD_NONCE_LEN]);
    nonce
}

/// The cipher for held cards: key = BLAKE3 derive-key("carnet v1 card at rest", seed).
pub(super) fn card_cipher(org_key: &SecretKey) -> ChaCha20Poly1305 {
    let key = Hash32::derive(CARD_AT_REST_CONTEXT, &[&org_key.seed()]);
    ChaCha20Poly1305::new(&key.0.into())
}
