//! Canonical encoding: postcard, and exactly one byte sequence per value.
//!
//! Postcard is deterministic when writing, but a reader would accept some other byte
//! sequences for the same value (over-long varints, for example). Two nodes must never
//! disagree on a content id, so decoding re-encodes what it read and rejects the input
//! unless the bytes are identical. Non-canonical input is an error, never "fixed".

use serde::{de::DeserializeOwned, Serialize};
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EncodingError {
    #[error("input is {len} bytes, over the limit of {limit}")]
    TooLarge { len: usize, limit: usize },
    #[error("malformed encoding: {0}")]
    Malformed(String),
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
    #[error("non-canonical encoding: the value re-encodes to different bytes")]
    NonCanonical,
}

/// Canonical bytes of a value.
pub fn to_canonical<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own types into a Vec cannot fail: none has a map with
    // non-string keys or a sequence of unknown length.
    postcard::to_stdvec(value).unwrap_or_else(|e| unreachable!("postcard encode: {e}"))
}

/// Decodes a value from a prefix of `bytes`, returning it and the rest, and checks that
/// the prefix is the value's canonical encoding.
pub fn take_canonical<T: Serialize + DeserializeOwned>(
    bytes: &[u8],
) -> Result<(T, &[u8]), EncodingError> {
    let (value, rest): (T, &[u8]) =
        postcard::take_from_bytes(bytes).map_err(|e| EncodingError::Malformed(e.to_string()))?;
    let used = &bytes[..bytes.len() - rest.len()];
    if to_canonical(&value) != used {
        return Err(EncodingError::NonCanonical);
    }
    Ok((value, rest))
}

/// Decodes exactly one canonical value occupying all of `bytes`.
pub fn from_canonical<T: Serialize + DeserializeOwned>(
    bytes: &[u8],
    limit: usize,
) -> Result<T, EncodingError> {
    if bytes.len() > limit {
        return Err(EncodingError::TooLarge {
            len: bytes.len(),
            limit,
        });
    }
    let (value, rest) = take_canonical(bytes)?;
    if !rest.is_empty() {
        return Err(EncodingError::TrailingBytes(rest.len()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlong_varint_is_rejected() {
        // 0 as a one-byte varint is canonical; 0x80 0x00 is the same number, over-long.
        assert_eq!(from_canonical::<u64>(&[0x00], 16), Ok(0));
        let r = from_canonical::<u64>(&[0x80, 0x00], 16);
        assert!(
            matches!(
                r,
                Err(EncodingError::NonCanonical) | Err(EncodingError::Malformed(_))
            ),
            "{r:?}"
        );
    }

    #[test]
    fn trailing_and_oversize() {
        assert_eq!(
            from_canonical::<u8>(&[1, 2], 16),
            Err(EncodingError::TrailingBytes(1))
        );
        assert!(matches!(
            from_canonical::<u8>(&[0; 17], 16),
            Err(EncodingError::TooLarge { .. })
        ));
    }

    #[test]
    fn bad_bool_is_malformed() {
        assert!(matches!(
            from_canonical::<bool>(&[2], 16),
            Err(EncodingError::Malformed(_))
        ));
    }
}
