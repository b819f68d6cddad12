//! The member's key file: the only secret a member holds.
//!
//! The CLI signs every member event locally with it, so the org node never sees the
//! member's key. Beside the key file sits a small journal of the member's last signed
//! event (`<key file>.head`): a member signs from several shells or machines against
//! one node, and signing twice at one seq is an equivocation that excludes the member
//! for good. The journal, written before the event is submitted and guarded by a file
//! lock, makes sure every event names the previous one, even when a submission was
//! lost half-way.

use carnet_protocol::author::AuthorHead;
use carnet_protocol::{ContentId, Hash32, NetworkId, PublicKey, SecretKey};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Largest key or journal file read: both are a few hundred bytes.
const MAX_FILE_BYTES: u64 = 64 * 1024;

#[derive(Debug, Error)]
pub enum KeyFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a Carnet member key file ({reason})")]
    Invalid { path: PathBuf, reason: String },
    #[error("{path} already exists; refusing to overwrite a key")]
    Exists { path: PathBuf },
    #[error("no randomness available from the operating system: {0}")]
    Randomness(String),
    #[error("no config directory to keep the key in; pass --key")]
    NoDefault,
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A member's identity: the signing key and the network and org it belongs to.
#[derive(Debug, Clone)]
pub struct MemberKey {
    pub handle: String,
    pub secret: SecretKey,
    pub network: NetworkId,
    /// The org that enrolled the member.
    pub org: PublicKey,
    /// The org node's API, used when no `--api` is given.
    pub api: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileV1 {
    version: u32,
    handle: String,
    public: String,
    secret: String,
    network: String,
    org: String,
    api: String,
}

/// `$XDG_CONFIG_HOME/carnet/member.key` (or the platform's equivalent).
pub fn default_path() -> Result<PathBuf, KeyFileError> {
    dirs::config_dir()
        .map(|d| d.join("carnet").join("member.key"))
        .ok_or(KeyFileError::NoDefault)
}

/// 32 bytes from the operating system.
pub fn random32() -> Result<[u8; 32], KeyFileError> {
    carnet_api::os::random().map_err(|e| KeyFileError::Randomness(e.to_string()))
}

impl MemberKey {
    pub fn generate(
        handle: &str,
        network: NetworkId,
        org: PublicKey,
        api: &str,
    ) -> Result<Self, KeyFileError> {
        Ok(MemberKey {
            handle: handle.to_owned(),
            secret: SecretKey::from_seed(random32()?),
            network,
            org,
            api: api.to_owned(),
        })
    }

    pub fn public(&self) -> PublicKey {
        self.secret.public()
    }

    /// Writes the key to a new file readable by the owner only.
    pub fn save_new(&self, path: &Path) -> Result<(), KeyFileError> {
        let file = KeyFileV1 {
            version: 1,
            handle: self.handle.clone(),
            public: self.public().to_hex(),
            secret: hex::encode(self.secret.seed()),
            network: self.network.to_hex(),
            org: self.org.to_hex(),
            api: self.api.clone(),
        };
        let mut text = serde_json::to_string_pretty(&file).map_err(|e| KeyFileError::Invalid {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        text.push('\n');
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io(dir))?;
        }
        write_new_private(path, text.as_bytes())
    }

    pub fn load(path: &Path) -> Result<Self, KeyFileError> {
        let bad = |reason: &str| KeyFileError::Invalid {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let text = read_small(path)?;
        let f: KeyFileV1 = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
        if f.version != 1 {
            return Err(bad(&format!("unsupported version {}", f.version)));
        }
        let seed: [u8; 32] = hex::decode(f.secret.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("secret is not 64 hex digits"))?;
        let secret = SecretKey::from_seed(seed);
        if PublicKey::from_hex(&f.public) != Some(secret.public()) {
            return Err(bad("public key does not match the secret"));
        }
        Ok(MemberKey {
            handle: f.handle,
            secret,
            network: Hash32::from_hex(&f.network).ok_or_else(|| bad("bad network id"))?,
            org: PublicKey::from_hex(&f.org).ok_or_else(|| bad("bad org key"))?,
            api: f.api,
        })
    }

    /// The X25519 secret a card bought for `listing` is sealed to. Derived from the
    /// member key, so showing a card later needs nothing but the key file.
    pub fn recipient_secret(&self, listing: &ContentId) -> [u8; 32] {
        recipient_secret(&self.secret, listing)
    }
}

/// The X25519 secret a card `member` bought for `listing` is sealed to: the same
/// whether the CLI or the web app bought it, so either can open it.
pub fn recipient_secret(member: &SecretKey, listing: &ContentId) -> [u8; 32] {
    Hash32::derive(
        "carnet v1 member purchase recipient",
        &[&member.seed(), listing.as_bytes()],
    )
    .0
}

fn read_small(path: &Path) -> Result<String, KeyFileError> {
    let meta = fs::metadata(path).map_err(io(path))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(KeyFileError::Invalid {
            path: path.to_owned(),
            reason: format!("{} bytes is too large", meta.len()),
        });
    }
    fs::read_to_string(path).map_err(io(path))
}

fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), KeyFileError> {
    carnet_api::os::write_new_private(path, bytes).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => KeyFileError::Exists {
            path: path.to_owned(),
        },
        _ => KeyFileError::Io {
            path: path.to_owned(),
            source: e,
        },
    })
}

/// The member's last signed event, as journalled beside the key file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub seq: u64,
    pub id: String,
    pub lamport: u64,
    pub timestamp_ms: u64,
    /// The event itself, to resubmit if the node never got it.
    pub event_hex: String,
    /// For a contribution, the card that goes with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_hex: Option<String>,
}

impl Journal {
    pub fn head(&self) -> Option<AuthorHead> {
        Some(AuthorHead {
            seq: self.seq,
            id: Hash32::from_hex(&self.id)?,
            lamport: self.lamport,
            timestamp_ms: self.timestamp_ms,
        })
    }
}

/// Exclusive use of a member's chain: held while an event is signed and submitted.
pub struct ChainLock {
    _file: fs::File,
    journal_path: PathBuf,
}

impl ChainLock {
    /// Waits for any other `carnet` signing with this key to finish.
    pub fn acquire(key_path: &Path) -> Result<Self, KeyFileError> {
        let lock_path = sidecar(key_path, "lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        file.lock().map_err(io(&lock_path))?;
        Ok(ChainLock {
            _file: file,
            journal_path: sidecar(key_path, "head"),
        })
    }

    pub fn journal(&self) -> Result<Option<Journal>, KeyFileError> {
        if !self.journal_path.exists() {
            return Ok(None);
        }
        let text = read_small(&self.journal_path)?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| KeyFileError::Invalid {
                path: self.journal_path.clone(),
                reason: format!("chain journal: {e}"),
            })
    }

    /// Puts back the journal as it was before an event the node refused outright:
    /// that event is in no ledger, so the chain continues from the one before.
    pub fn restore(&self, previous: Option<&Journal>) -> Result<(), KeyFileError> {
        match previous {
            Some(j) => self.record(j),
            None => match fs::remove_file(&self.journal_path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(io(&self.journal_path)(e))
                }
                _ => Ok(()),
            },
        }
    }

    /// Records `journal` durably (write to a temporary file, fsync, rename).
    pub fn record(&self, journal: &Journal) -> Result<(), KeyFileError> {
        let tmp = self.journal_path.with_extension("head.tmp");
        let text = serde_json::to_vec(journal).map_err(|e| KeyFileError::Invalid {
            path: tmp.clone(),
            reason: e.to_string(),
        })?;
        let _ = fs::remove_file(&tmp);
        write_new_private(&tmp, &text)?;
        fs::rename(&tmp, &self.journal_path).map_err(io(&self.journal_path))
    }
}

pub(crate) fn sidecar(key_path: &Path, ext: &str) -> PathBuf {
    let mut name = key_path.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_round_trip_and_refuse_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.key");
        let k =
            MemberKey::generate("alice", Hash32([7; 32]), PublicKey([9; 32]), "http://x").unwrap();
        k.save_new(&path).unwrap();
        let l = MemberKey::load(&path).unwrap();
        assert_eq!(l.public(), k.public());
        assert_eq!(l.network, k.network);
        assert_eq!(l.handle, "alice");
        assert!(matches!(
            k.save_new(&path),
            Err(KeyFileError::Exists { .. })
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn corrupt_key_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        fs::write(&path, "{}").unwrap();
        let e = MemberKey::load(&path).unwrap_err();
        assert!(
            e.to_string().contains("not a Carnet member key file"),
            "{e}"
        );
        fs::write(&path, vec![b'x'; 100_000]).unwrap();
        assert!(MemberKey::load(&path).is_err());
    }

    #[test]
    fn journal_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.key");
        let lock = ChainLock::acquire(&key).unwrap();
        assert_eq!(lock.journal().unwrap(), None);
        let j = Journal {
            seq: 3,
            id: Hash32([1; 32]).to_hex(),
            lamport: 9,
            timestamp_ms: 5,
            event_hex: "00".into(),
            card_hex: None,
        };
        lock.record(&j).unwrap();
        lock.record(&j).unwrap();
        assert_eq!(lock.journal().unwrap(), Some(j.clone()));
        lock.restore(None).unwrap();
        assert_eq!(lock.journal().unwrap(), None);
        lock.restore(None).unwrap();
        lock.restore(Some(&j)).unwrap();
        assert_eq!(lock.journal().unwrap(), Some(j));
    }
}
