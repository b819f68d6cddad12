//! The node's data directory: the org key and the pinned network genesis.
//!
//! The org key is the organisation's signing identity, so it is written once with
//! owner-only permissions and never overwritten; the genesis is stored as its
//! canonical bytes, the form whose hash is the network id.

use carnet_protocol::card::NetworkSecret;
use carnet_protocol::genesis::{Genesis, GenesisError, OrgEntry, Rules};
use carnet_protocol::{NetworkId, PublicKey, SecretKey};
use std::fs;
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const ORG_KEY_FILE: &str = "org.key";
pub const GENESIS_FILE: &str = "genesis.bin";
/// The org key this org is rotating to (`carnet network rotate`), kept beside the
/// current one until a quorum of orgs has voted for the rotation and the operator
/// moves it over `org.key`.
pub const NEXT_ORG_KEY_FILE: &str = "org.key.next";

/// The network secret dedup keys are keyed by (docs/protocol.md, "Network secret"),
/// hex, owner-only. The founding org's node writes it with the genesis; every other
/// org's node receives it from a peer once admitted and keeps it here.
pub const NETWORK_SECRET_FILE: &str = "network.secret";

#[derive(Debug, Error)]
pub enum DataDirError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a key file (expected 64 hex digits)")]
    BadKey { path: PathBuf },
    #[error("{path}: {source}")]
    BadGenesis { path: PathBuf, source: GenesisError },
    #[error("no randomness available from the operating system: {0}")]
    Randomness(String),
    #[error("{0}")]
    Genesis(#[from] GenesisError),
    #[error("{path} is not a Carnet data directory (no org key); create one with `carnet init`")]
    Missing { path: PathBuf },
    #[error("no data directory given and no home directory to put one in; pass --data-dir")]
    NoDefault,
    #[error("{path} holds another network secret than the one offered; a network has one secret, so the file is kept")]
    OtherSecret { path: PathBuf },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io {
        path: path.to_owned(),
        source,
    }
}

/// An opened data directory.
#[derive(Debug)]
pub struct DataDir {
    pub path: PathBuf,
    pub org_key: SecretKey,
    pub genesis: Genesis,
    /// None until a peer has sent it (see [`NETWORK_SECRET_FILE`]).
    pub network_secret: Option<NetworkSecret>,
}

/// `$XDG_DATA_HOME/carnet` (or the platform's equivalent).
pub fn default_path() -> Result<PathBuf, DataDirError> {
    dirs::data_dir()
        .map(|d| d.join("carnet"))
        .ok_or(DataDirError::NoDefault)
}

fn random_seed() -> Result<[u8; 32], DataDirError> {
    carnet_api::os::random().map_err(|e| DataDirError::Randomness(e.to_string()))
}

impl DataDir {
    /// Opens `path`, creating it on first use with a fresh org key and, if no genesis
    /// is there, the embedded default: a one-org network founded by this node.
    pub fn open_or_init(path: &Path, org_name: &str, now_ms: u64) -> Result<Self, DataDirError> {
        Self::open_or_init_with(path, org_name, now_ms, Rules::default())
    }

    /// [`DataDir::open_or_init`], founding the network (when there is no genesis yet)
    /// with `rules` instead of the defaults.
    pub fn open_or_init_with(
        path: &Path,
        org_name: &str,
        now_ms: u64,
        rules: Rules,
    ) -> Result<Self, DataDirError> {
        create_private_dir(path)?;
        let key_path = path.join(ORG_KEY_FILE);
        let org_key = if key_path.exists() {
            read_key(&key_path)?
        } else {
            let key = SecretKey::from_seed(random_seed()?);
            write_new_private(&key_path, hex::encode(key.seed()).as_bytes())?;
            key
        };
        let genesis_path = path.join(GENESIS_FILE);
        let genesis = if genesis_path.exists() {
            let bytes = fs::read(&genesis_path).map_err(io(&genesis_path))?;
            Genesis::decode(&bytes).map_err(|source| DataDirError::BadGenesis {
                path: genesis_path.clone(),
                source,
            })?
        } else {
            let g = Genesis::new(
                &format!("{org_name} network"),
                vec![OrgEntry {
                    key: org_key.public(),
                    name: org_name.to_owned(),
                }],
                rules,
                now_ms,
            )?;
            write_new_private(&genesis_path, &g.to_bytes())?;
            // Founding the network: its secret is born here, with the genesis.
            save_network_secret(path, &NetworkSecret(random_seed()?))?;
            g
        };
        tighten(path)?;
        Ok(DataDir {
            path: path.to_owned(),
            org_key,
            genesis,
            network_secret: read_network_secret(path)?,
        })
    }

    /// Opens an existing data directory; never creates anything (for commands that
    /// act for the org, such as enrolling a member, and must not mint a new org).
    pub fn open(path: &Path) -> Result<Self, DataDirError> {
        let key_path = path.join(ORG_KEY_FILE);
        if !key_path.exists() {
            return Err(DataDirError::Missing {
                path: path.to_owned(),
            });
        }
        let org_key = read_key(&key_path)?;
        let genesis_path = path.join(GENESIS_FILE);
        let bytes = fs::read(&genesis_path).map_err(io(&genesis_path))?;
        let genesis = Genesis::decode(&bytes).map_err(|source| DataDirError::BadGenesis {
            path: genesis_path.clone(),
            source,
        })?;
        Ok(DataDir {
            path: path.to_owned(),
            org_key,
            genesis,
            network_secret: read_network_secret(path)?,
        })
    }

    /// Writes a new data directory for `org_key` in the network `genesis` (for an org
    /// joining a network someone else founded, and for tests). Refuses to overwrite.
    pub fn create(
        path: &Path,
        org_key: &SecretKey,
        genesis: &Genesis,
    ) -> Result<Self, DataDirError> {
        create_private_dir(path)?;
        write_new_private(
            &path.join(ORG_KEY_FILE),
            hex::encode(org_key.seed()).as_bytes(),
        )?;
        write_new_private(&path.join(GENESIS_FILE), &genesis.to_bytes())?;
        Ok(DataDir {
            path: path.to_owned(),
            org_key: org_key.clone(),
            genesis: genesis.clone(),
            network_secret: None,
        })
    }

    pub fn org(&self) -> PublicKey {
        self.org_key.public()
    }

    /// The key this org is rotating to: [`NEXT_ORG_KEY_FILE`], created (owner-only)
    /// with a fresh key the first time, read back after that, so that voting again
    /// names the same key.
    pub fn next_org_key(&self) -> Result<PublicKey, DataDirError> {
        let path = self.path.join(NEXT_ORG_KEY_FILE);
        if !path.exists() {
            let key = SecretKey::from_seed(random_seed()?);
            write_new_private(&path, hex::encode(key.seed()).as_bytes())?;
        }
        Ok(read_key(&path)?.public())
    }

    pub fn network(&self) -> NetworkId {
        self.genesis.network_id()
    }
}

/// The network secret in the data directory at `dir`, if it has one.
pub fn read_network_secret(dir: &Path) -> Result<Option<NetworkSecret>, DataDirError> {
    let path = dir.join(NETWORK_SECRET_FILE);
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(NetworkSecret(read_key(&path)?.seed())))
}

/// Keeps the network secret in the data directory at `dir`, owner-only. Writing the
/// one already there is a no-op; another one is refused: a network has one secret.
pub fn save_network_secret(dir: &Path, secret: &NetworkSecret) -> Result<(), DataDirError> {
    match read_network_secret(dir)? {
        Some(s) if &s == secret => Ok(()),
        Some(_) => Err(DataDirError::OtherSecret {
            path: dir.join(NETWORK_SECRET_FILE),
        }),
        None => write_new_private(
            &dir.join(NETWORK_SECRET_FILE),
            hex::encode(secret.0).as_bytes(),
        ),
    }
}

fn read_key(path: &Path) -> Result<SecretKey, DataDirError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    let bytes = hex::decode(text.trim()).map_err(|_| DataDirError::BadKey {
        path: path.to_owned(),
    })?;
    let seed: [u8; 32] = bytes.try_into().map_err(|_| DataDirError::BadKey {
        path: path.to_owned(),
    })?;
    Ok(SecretKey::from_seed(seed))
}

/// Creates `path` (and missing parents) owner-only (0700): it holds the org key, the
/// store with held cards and bounce messages, and the snapshot.
fn create_private_dir(path: &Path) -> Result<(), DataDirError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path).map_err(io(path))
}

/// Makes an existing data directory owner-only (0700) if it was not, with a log line
/// saying so. Called once the directory has proved to be a data directory.
fn tighten(path: &Path) -> Result<(), DataDirError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).map_err(io(path))?.permissions().mode() & 0o777;
        if mode != 0o700 {
            fs::set_permissions(path, fs::Permissions::from_mode(0o700)).map_err(io(path))?;
            tracing::info!(
                path = %path.display(),
                from = format!("{mode:o}"),
                "data directory made owner-only (0700)"
            );
        }
    }
    Ok(())
}

fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), DataDirError> {
    carnet_api::os::write_new_private(path, bytes).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_then_reopen_keeps_identity() {
        let dir = tempfile::tempdir().unwrap();
        let a = DataDir::open_or_init(dir.path(), "Acme", 1).unwrap();
        let b = DataDir::open_or_init(dir.path(), "Other name", 2).unwrap();
        assert_eq!(a.org(), b.org());
        assert_eq!(a.network(), b.network());
        assert!(b.genesis.is_founder(&b.org()));
    }

    #[test]
    fn the_founder_writes_the_network_secret_a_joiner_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = DataDir::open_or_init(dir.path(), "Acme", 1).unwrap();
        let secret = a.network_secret.clone().expect("a founder has the secret");
        let again = DataDir::open(dir.path()).unwrap();
        assert_eq!(again.network_secret, Some(secret.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(NETWORK_SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Another secret is never written over it; the same one is a no-op.
        save_network_secret(dir.path(), &secret).unwrap();
        assert!(matches!(
            save_network_secret(dir.path(), &NetworkSecret([9; 32])),
            Err(DataDirError::OtherSecret { .. })
        ));
        assert_eq!(read_network_secret(dir.path()).unwrap(), Some(secret));

        // An org joining an existing network has none until a peer sends it.
        let joiner = tempfile::tempdir().unwrap();
        let key = SecretKey::from_seed([7; 32]);
        let j = DataDir::create(joiner.path(), &key, &a.genesis).unwrap();
        assert_eq!(j.network_secret, None);
        assert_eq!(DataDir::open(joiner.path()).unwrap().network_secret, None);
    }

    #[cfg(unix)]
    #[test]
    fn the_data_directory_is_owner_only_even_if_it_was_not() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let path = parent.path().join("node");
        DataDir::open_or_init(&path, "Acme", 1).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o700);
        assert_eq!(mode(&path.join(ORG_KEY_FILE)), 0o600);
        assert_eq!(mode(&path.join(GENESIS_FILE)), 0o600);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        DataDir::open_or_init(&path, "Acme", 1).unwrap();
        assert_eq!(mode(&path), 0o700);
    }

    #[test]
    fn corrupt_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(ORG_KEY_FILE), "not hex").unwrap();
        let e = DataDir::open_or_init(dir.path(), "Acme", 1).unwrap_err();
        assert!(matches!(e, DataDirError::BadKey { .. }), "{e}");
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(GENESIS_FILE), [1, 2, 3]).unwrap();
        let e = DataDir::open_or_init(dir.path(), "Acme", 1).unwrap_err();
        assert!(matches!(e, DataDirError::BadGenesis { .. }), "{e}");
    }
}
