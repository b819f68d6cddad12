//! Vouching for members' reports: bounce messages and mobile numbers checked against
//! the ledger, kept, and signed for; the openings kept with them; old evidence swept.

use super::*;

impl Engine {
    /// docs/protocol.md, "Report vouchers": checks `req` against the ledger (a
    /// delivered purchase of the reporter, a member of this org, the opening of the
    /// card's email), keeps the message as evidence and signs the voucher. The mail
    /// checks of the message itself ran before (carnet-mail).
    pub fn vouch(
        &mut self,
        req: &crate::vouch::VouchRequest,
    ) -> Result<crate::vouch::Vouched, crate::vouch::VouchError> {
        use crate::vouch::{VouchError, Vouched};
        let network = self.ledger.network();
        let email_commitment =
            self.vouch_precheck(&req.reporter, &req.purchase_id, &req.opening)?;
        // At most a few different messages per purchase, remembered across restarts.
        use crate::vouch::{decode_records, encode_records, VouchedRecord};
        let storage = |e: StoreError| VouchError::Storage(e.to_string());
        let quota_key = format!(
            "{}{}",
            crate::vouch::VOUCHED_META_PREFIX,
            req.purchase_id.to_hex()
        );
        let mut kept = decode_records(
            &self
                .store
                .get_meta(&quota_key)
                .map_err(storage)?
                .unwrap_or_default(),
        );
        let hash = carnet_protocol::hash::evidence_hash(&req.message);
        let known = kept.iter().any(|r| r.evidence == hash);
        if !known && kept.len() >= crate::vouch::MAX_MESSAGES_PER_PURCHASE {
            return Err(VouchError::TooManyMessages(req.purchase_id.to_hex()));
        }
        self.writable()
            .map_err(|e| VouchError::Storage(e.to_string()))?;
        let writes = (|| {
            let evidence = self.store.put_evidence(&req.message, self.org.key())?;
            if !known {
                kept.push(VouchedRecord {
                    evidence,
                    at_ms: carnet_api::now_ms(),
                });
                self.store.put_meta(&quota_key, &encode_records(&kept))?;
            }
            self.keep_opening(&req.purchase_id, &email_commitment, &req.opening)?;
            Ok(evidence)
        })();
        let evidence = self.written(writes).map_err(storage)?;
        let body = carnet_protocol::voucher::VoucherBody {
            network,
            reporter: req.reporter,
            purchase_id: req.purchase_id,
            evidence,
            status: req.status,
            email_commitment,
        };
        Ok(Vouched {
            voucher: carnet_protocol::voucher::sign(self.org.key(), &body),
            evidence,
        })
    }

    /// Deletes the bounce messages this node vouched for that no BounceReport on the
    /// ledger names, once twice the bounce window has passed since (the member's time
    /// to publish its report): see [`crate::vouch::retain`]. Returns how many went.
    pub fn sweep_evidence(&mut self, now_ms: u64) -> Result<usize, StoreError> {
        let keep_ms = self
            .ledger
            .genesis()
            .rules
            .bounce_window_ms
            .saturating_mul(2);
        let entries = self
            .store
            .meta_with_prefix(crate::vouch::VOUCHED_META_PREFIX)?;
        if entries.is_empty() {
            return Ok(0);
        }
        let reports: Vec<ContentId> = self.ledger.state().bounce_reports.keys().copied().collect();
        // A report that cannot be read back stops the pass: taken for none, its
        // voucher would be dropped as one no report names.
        let mut named = std::collections::HashSet::new();
        for id in &reports {
            if let Some(Payload::BounceReport(b)) =
                self.ledger.fetch(id)?.as_deref().map(|e| e.payload())
            {
                named.insert(b.evidence);
            }
        }
        let mut removed = 0;
        for (key, value) in entries {
            let records = crate::vouch::decode_records(&value);
            let (kept, gone) =
                crate::vouch::retain(&records, |h| named.contains(h), now_ms, keep_ms);
            if gone.is_empty() {
                continue;
            }
            for h in &gone {
                self.store.remove_evidence(h)?;
            }
            // Only what is kept stays recorded: a purchase has at most its quota of
            // messages kept at a time.
            self.store
                .put_meta(&key, &crate::vouch::encode_records(&kept))?;
            removed += gone.len();
        }
        Ok(removed)
    }

    /// docs/protocol.md, "Report vouchers": a mobile voucher for `reporter`'s
    /// delivered purchase, once `opening` opens its phone commitment and the number
    /// is classified Mobile. The opening is kept (encrypted) for an audit export; the
    /// report that carries the voucher carries no number.
    pub fn vouch_mobile(
        &mut self,
        reporter: &PublicKey,
        purchase_id: &ContentId,
        opening: &carnet_protocol::payload::Opening,
    ) -> Result<carnet_protocol::payload::Voucher, crate::vouch::VouchError> {
        use crate::vouch::VouchError;
        let p = self.vouchable_purchase(reporter, purchase_id)?;
        let commitment = p.phone_commitment.ok_or(VouchError::NoPhone)?;
        if carnet_protocol::card::commit_phone(opening) != commitment {
            return Err(VouchError::OpeningMismatch);
        }
        if !carnet_protocol::ledger::is_mobile_number(&opening.value) {
            return Err(VouchError::NotMobile(opening.value.clone()));
        }
        self.keep_opening(purchase_id, &commitment, opening)
            .map_err(|e| VouchError::Storage(e.to_string()))?;
        let body = carnet_protocol::voucher::MobileVoucherBody {
            network: self.ledger.network(),
            reporter: *reporter,
            purchase_id: *purchase_id,
            phone_commitment: commitment,
        };
        Ok(carnet_protocol::voucher::sign_mobile(self.org.key(), &body))
    }

    pub(super) fn opening_key(
        purchase_id: &ContentId,
        commitment: &carnet_protocol::Hash32,
    ) -> String {
        format!(
            "{}{}:{}",
            crate::vouch::OPENING_META_PREFIX,
            purchase_id.to_hex(),
            commitment.to_hex()
        )
    }

    /// Keeps the opening a reporter showed for `commitment` of `purchase_id`,
    /// encrypted like a bounce message, for an audit export.
    pub(super) fn keep_opening(
        &self,
        purchase_id: &ContentId,
        commitment: &carnet_protocol::Hash32,
        opening: &carnet_protocol::payload::Opening,
    ) -> Result<(), StoreError> {
        let bytes = carnet_protocol::encoding::to_canonical(opening);
        let hash = self.store.put_evidence(&bytes, self.org.key())?;
        self.store
            .put_meta(&Self::opening_key(purchase_id, commitment), hash.as_bytes())
    }

    /// The opening of `commitment` (a purchase's email or phone commitment) this node
    /// can disclose: the one a reporter showed it, or, for the holder, the card's own.
    pub(super) fn opening_for(
        &self,
        purchase_id: &ContentId,
        listing_id: &ContentId,
        commitment: &carnet_protocol::Hash32,
    ) -> Result<Option<carnet_protocol::payload::Opening>, StoreError> {
        use carnet_protocol::card::{commit_email, commit_phone};
        use carnet_protocol::payload::Opening;
        if let Some(h) = self
            .store
            .get_meta(&Self::opening_key(purchase_id, commitment))?
        {
            let hash = <[u8; 32]>::try_from(h.as_slice())
                .map(carnet_protocol::Hash32)
                .map_err(|_| StoreError::Corrupt {
                    id: purchase_id.to_hex(),
                    reason: "an opening record is not 32 bytes".into(),
                })?;
            if let Some(bytes) = self.store.get_evidence(&hash, self.org.key())? {
                let opening: Opening =
                    carnet_protocol::encoding::from_canonical(&bytes, bytes.len()).map_err(
                        |e| StoreError::Corrupt {
                            id: purchase_id.to_hex(),
                            reason: format!("a kept opening does not decode: {e}"),
                        },
                    )?;
                return Ok(Some(opening));
            }
        }
        let Some(card) = self.store.get_card(listing_id, self.org.key())? else {
            return Ok(None);
        };
        if commit_email(&card.email) == *commitment {
            return Ok(Some(card.email));
        }
        Ok(card.phone.filter(|p| commit_phone(p) == *commitment))
    }

    /// The purchase `reporter` may have a report vouched for: its own, delivered, and
    /// the reporter a member of this org.
    pub(super) fn vouchable_purchase(
        &mut self,
        reporter: &PublicKey,
        purchase_id: &ContentId,
    ) -> Result<carnet_protocol::ledger::PurchaseState, crate::vouch::VouchError> {
        use crate::vouch::VouchError;
        use carnet_protocol::ledger::PurchaseStatus;
        let org = self.org.public();
        let state = self.ledger.state();
        let ours = state
            .accounts
            .get(reporter)
            .and_then(|a| a.org())
            .is_some_and(|o| o == org);
        if !ours {
            return Err(VouchError::NotOurMember);
        }
        let id = purchase_id.to_hex();
        let p = state
            .purchases
            .get(purchase_id)
            .ok_or_else(|| VouchError::UnknownPurchase(id.clone()))?;
        if p.buyer != *reporter {
            return Err(VouchError::NotBuyer(id));
        }
        if p.status != PurchaseStatus::Delivered {
            return Err(VouchError::NotDelivered(id));
        }
        Ok(p.clone())
    }

    /// The ledger's half of [`Engine::vouch`], run before the message is read: the
    /// purchase is `reporter`'s and delivered, `opening` opens its email commitment
    /// (returned), and the reporter is a member of this org. Checked first so that a
    /// stranger cannot make this node parse mail or look up DKIM keys in DNS.
    pub fn vouch_precheck(
        &mut self,
        reporter: &PublicKey,
        purchase_id: &ContentId,
        opening: &carnet_protocol::payload::Opening,
    ) -> Result<carnet_protocol::Hash32, crate::vouch::VouchError> {
        let p = self.vouchable_purchase(reporter, purchase_id)?;
        if carnet_protocol::card::commit_email(opening) != p.email_commitment {
            return Err(crate::vouch::VouchError::OpeningMismatch);
        }
        Ok(p.email_commitment)
    }
}
