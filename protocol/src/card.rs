//! The business card behind a listing: commitments, dedup keys, and sealing the card
//! to a buyer.
//!
//! A listing publishes only salted commitments to the email and direct line. The card
//! carries their openings, so a buyer can check what it received against what was
//! listed, and a reporter can prove which address bounced without trusting anyone.

use crate::encoding::{from_canonical, to_canonical, EncodingError};
use crate::hash::{context, ContentId, Hash32};
use crate::limits::{MAX_EMAIL_BYTES, MAX_PHONE_BYTES, MAX_POSTAL_BYTES, MAX_SEALED_CARD_BYTES};
use crate::payload::{Listing, Opening, Teaser, TeaserSlot};
use crate::text::{check_text, TextError};
use crate::EventError;
use chacha20poly1305::aead::{Aead, KeyInit, Payload as AeadPayload};
use chacha20poly1305::ChaCha20Poly1305;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use x25519_dalek::{PublicKey as XPublic, StaticSecret};

/// The full card, as the holder stores it and the buyer receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub teaser: Teaser,
    /// The normalised work email and its commitment salt.
    pub email: Opening,
    /// The direct line in E.164 and its salt; present exactly when the teaser says phone.
    pub phone: Option<Opening>,
    pub postal_address: Option<String>,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CardError {
    #[error("not an email address: {0}")]
    Email(&'static str),
    #[error(transparent)]
    Text(#[from] TextError),
    #[error(transparent)]
    Listing(#[from] EventError),
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    #[error("card does not match the listing: {0}")]
    Mismatch(&'static str),
    #[error("the recipient key is of small order")]
    WeakRecipient,
    #[error("sealed card does not decrypt with this key and purchase")]
    Decrypt,
}

/// Normalises a work email: trimmed, domain lowercased and converted to IDNA A-labels
/// (UTS #46 ToASCII). The local part is kept as typed: RFC 5321 lets it be case-sensitive.
pub fn normalise_email(raw: &str) -> Result<String, CardError> {
    let raw = raw.trim();
    let (local, domain) = raw.rsplit_once('@').ok_or(CardError::Email("no '@'"))?;
    if local.is_empty() || local.len() > 64 {
        return Err(CardError::Email("local part empty or over 64 bytes"));
    }
    if local
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '@')
    {
        return Err(CardError::Email(
            "local part has whitespace, a control character or '@'",
        ));
    }
    let ascii = idna::domain_to_ascii(domain).map_err(|_| CardError::Email("bad domain"))?;
    crate::text::check_domain("email domain", &ascii)?;
    let email = format!("{local}@{ascii}");
    check_text("email", &email, MAX_EMAIL_BYTES, true)?;
    Ok(email)
}

/// Commitment to an email: BLAKE3 derive-key("carnet v1 commitment email", salt || email).
pub fn commit_email(opening: &Opening) -> Hash32 {
    Hash32::derive(
        context::EMAIL_COMMITMENT,
        &[&opening.salt, opening.value.as_bytes()],
    )
}

/// Commitment to a direct line: BLAKE3 derive-key("carnet v1 commitment phone", salt || number).
pub fn commit_phone(opening: &Opening) -> Hash32 {
    Hash32::derive(
        context::PHONE_COMMITMENT,
        &[&opening.salt, opening.value.as_bytes()],
    )
}

/// The network's dedup secret: 32 random bytes that the network's org nodes hold and
/// nobody else (docs/protocol.md, "Network secret"). Dedup keys are keyed by it, so a
/// teaser's name and company domain do not let anyone test a guess of the address.
#[derive(Clone, PartialEq, Eq)]
pub struct NetworkSecret(pub [u8; 32]);

impl std::fmt::Debug for NetworkSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NetworkSecret(..)")
    }
}

/// Dedup key: BLAKE3 derive-key("carnet v5 dedup key", network secret || folded
/// email). Unsalted on purpose, so the same address always collides; keyed by the
/// network secret, so only an org node can compute one.
pub fn dedup_key(secret: &NetworkSecret, normalised_email: &str) -> Hash32 {
    Hash32::derive(
        context::DEDUP_KEY,
        &[&secret.0, fold_email(normalised_email).as_bytes()],
    )
}

/// The normalised email as dedup keys see it: lowercased (Unicode simple lowercase).
/// RFC 5321 lets a local part be case-sensitive, but no mail system in use treats
/// `John.Smith@` and `john.smith@` as two people, and listing both would pay twice for
/// one contact. The card keeps the address as typed.
pub fn fold_email(normalised_email: &str) -> String {
    normalised_email.to_lowercase()
}

impl Card {
    /// Checks the card's own fields: a normalised email, a bounded phone and address.
    pub fn check(&self) -> Result<(), CardError> {
        self.teaser.check()?;
        if normalise_email(&self.email.value)? != self.email.value {
            return Err(CardError::Email("email is not in normalised form"));
        }
        if let Some((_, domain)) = self.email.value.rsplit_once('@') {
            if crate::text::is_free_mail(domain) {
                return Err(CardError::Email(
                    "an address at a free mail provider is not a work email",
                ));
            }
        }
        if let Some(p) = &self.phone {
            check_text("phone", &p.value, MAX_PHONE_BYTES, true)?;
        }
        if self.teaser.availability.phone != self.phone.is_some() {
            return Err(CardError::Mismatch(
                "phone present exactly when the teaser says so",
            ));
        }
        if self.teaser.availability.postal != self.postal_address.is_some() {
            return Err(CardError::Mismatch(
                "postal address present exactly when the teaser says so",
            ));
        }
        if let Some(a) = &self.postal_address {
            check_text("postal address", a, MAX_POSTAL_BYTES, true)?;
        }
        Ok(())
    }

    /// Salt of the teaser's hash: derive-key("carnet v4 teaser salt", email salt).
    /// Derived rather than drawn, so a card needs no field for it; one-way, so a shown
    /// teaser's salt says nothing of the email commitment's.
    pub fn teaser_salt(&self) -> [u8; 32] {
        Hash32::derive(context::TEASER_SALT, &[&self.email.salt]).0
    }

    /// The public listing for this card, computing its dedup key with the network
    /// secret (an org node's view).
    pub fn listing(&self, secret: &NetworkSecret) -> Result<Listing, CardError> {
        self.listing_keyed(dedup_key(secret, &self.email.value))
    }

    /// The public listing for this card with a dedup key its org node computed (a
    /// member's view: members do not hold the network secret).
    pub fn listing_keyed(&self, dedup_key: Hash32) -> Result<Listing, CardError> {
        self.check()?;
        let listing = Listing {
            teaser: TeaserSlot::Shown {
                teaser: Box::new(self.teaser.clone()),
                salt: self.teaser_salt(),
            },
            email_commitment: commit_email(&self.email),
            phone_commitment: self.phone.as_ref().map(commit_phone),
            dedup_key,
        };
        listing.check()?;
        Ok(listing)
    }

    /// Checks that this card is the one `listing` committed to: both commitments and
    /// the teaser. The dedup key is not checked: only an org node can compute it
    /// (see [`Card::verify_dedup_key`]).
    pub fn verify_against(&self, listing: &Listing) -> Result<(), CardError> {
        let mine = self.listing_keyed(listing.dedup_key)?;
        if mine.email_commitment != listing.email_commitment {
            return Err(CardError::Mismatch(
                "email does not open the email commitment",
            ));
        }
        if mine.phone_commitment != listing.phone_commitment {
            return Err(CardError::Mismatch(
                "direct line does not open the phone commitment",
            ));
        }
        // Compared by hash, so a card still matches a listing whose teaser was erased.
        // Last: the teaser's salt derives from the email's, so a wrong email salt is
        // reported as such first.
        if mine.teaser.hash() != listing.teaser.hash() {
            return Err(CardError::Mismatch("teaser differs"));
        }
        Ok(())
    }

    /// The org node's check before it holds a card: the listing's dedup key is that of
    /// the card's email under the network secret.
    pub fn verify_dedup_key(
        &self,
        listing: &Listing,
        secret: &NetworkSecret,
    ) -> Result<(), CardError> {
        if dedup_key(secret, &self.email.value) != listing.dedup_key {
            return Err(CardError::Mismatch("dedup key is not that of the email"));
        }
        Ok(())
    }
}

/// X25519 public key for a 32-byte secret (the buyer's per-purchase recipient key).
pub fn recipient_public(secret: [u8; 32]) -> [u8; 32] {
    XPublic::from(&StaticSecret::from(secret)).to_bytes()
}

fn deliver_cipher(
    shared: &[u8; 32],
    ephemeral: &[u8; 32],
    recipient: &[u8; 32],
    purchase: &ContentId,
) -> Result<ChaCha20Poly1305, CardError> {
    if shared == &[0u8; 32] {
        return Err(CardError::WeakRecipient);
    }
    let key = Hash32::derive(
        context::DELIVER_KEY,
        &[shared, ephemeral, recipient, purchase.as_bytes()],
    );
    ChaCha20Poly1305::new_from_slice(key.as_bytes()).map_err(|_| CardError::Decrypt)
}

/// The nonce is fixed: every key is fresh (it hashes a fresh ephemeral key), so a
/// key never encrypts twice with one nonce.
const DELIVER_NONCE: [u8; 12] = [0; 12];

/// Seals `card` to `recipient` for the purchase `purchase`. `ephemeral_secret` must be
/// fresh randomness; the protocol draws none itself. Returns (ephemeral public key,
/// ciphertext) for a Deliver event.
pub fn seal_card(
    card: &Card,
    recipient: &[u8; 32],
    ephemeral_secret: [u8; 32],
    purchase: &ContentId,
) -> Result<([u8; 32], Vec<u8>), CardError> {
    card.check()?;
    let secret = StaticSecret::from(ephemeral_secret);
    let ephemeral = XPublic::from(&secret).to_bytes();
    let shared = secret.diffie_hellman(&XPublic::from(*recipient)).to_bytes();
    let cipher = deliver_cipher(&shared, &ephemeral, recipient, purchase)?;
    let plain = to_canonical(card);
    let sealed = cipher
        .encrypt(
            &DELIVER_NONCE.into(),
            AeadPayload {
                msg: &plain,
                aad: purchase.as_bytes(),
            },
        )
        .map_err(|_| CardError::Decrypt)?;
    if sealed.len() > MAX_SEALED_CARD_BYTES {
        return Err(EncodingError::TooLarge {
            len: sealed.len(),
            limit: MAX_SEALED_CARD_BYTES,
        }
        .into());
    }
    Ok((ephemeral, sealed))
}

/// Opens a sealed card with the recipient's secret. The result is decoded canonically
/// and checked, but not yet compared with the listing: see [`Card::verify_against`].
pub fn open_card(
    sealed: &[u8],
    ephemeral: &[u8; 32],
    recipient_secret: [u8; 32],
    purchase: &ContentId,
) -> Result<Card, CardError> {
    let secret = StaticSecret::from(recipient_secret);
    let recipient = XPublic::from(&secret).to_bytes();
    let shared = secret.diffie_hellman(&XPublic::from(*ephemeral)).to_bytes();
    let cipher = deliver_cipher(&shared, ephemeral, &recipient, purchase)?;
    let plain = cipher
        .decrypt(
            &DELIVER_NONCE.into(),
            AeadPayload {
                msg: sealed,
                aad: purchase.as_bytes(),
            },
        )
        .map_err(|_| CardError::Decrypt)?;
    let card: Card = from_canonical(&plain, MAX_SEALED_CARD_BYTES)?;
    card.check()?;
    Ok(card)
}
