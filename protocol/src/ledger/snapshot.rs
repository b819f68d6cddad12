//! A saved ledger state, so a node restarts from where it was instead of re-applying
//! (and re-verifying) every event since genesis.
//!
//! A snapshot is a cache, never a source of truth: it names the exact prefix of the
//! ledger order it was folded from (a digest over the ids and signatures, in order)
//! (finalization marks included), which is all the fold depended on.
//! [`Ledger::restore`](super::Ledger::restore) accepts it only if the ledger it is
//! restored into has that same prefix; otherwise the caller replays from genesis, and
//! gets the same state either way.

use super::state::State;
use super::trie::{self, Trie};
use super::OrderKey;
use crate::hash::{Hash32, NetworkId};
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, SeekFrom, Write};
use thiserror::Error;

/// First bytes of an encoded snapshot; the last byte is the format version.
pub const SNAPSHOT_MAGIC: &[u8; 16] = b"carnet-snapshot\x07";

/// BLAKE3 derive-key context of the prefix digest.
pub(crate) const PREFIX_DIGEST_CONTEXT: &str = "carnet v1 ledger snapshot prefix";

/// BLAKE3 derive-key context of the checksum that guards an encoded snapshot.
const CHECKSUM_CONTEXT: &str = "carnet v1 ledger snapshot checksum";

/// BLAKE3 derive-key context of the hash of each of its three parts, which the
/// checksum binds together.
const PART_CONTEXT: &str = "carnet v1 ledger snapshot part";

/// Bytes before the first part: the magic, the checksum, the lengths of the first two
/// parts.
const HEAD: usize = SNAPSHOT_MAGIC.len() + 32 + 8 + 8;

/// Bytes of one (path, leaf hash) pair of the third part.
const PAIR: usize = 64;

/// The source of this crate, every file: what a state means is decided here, so a
/// snapshot resumes only in a build of the very same source. An upgrade that changes
/// a rule (or a comment) costs one replay, never a state the new rules would not give.
/// `every_source_file_is_fingerprinted` keeps the list whole. The test fixtures
/// (`testkit/`, never in a node's build) are not rules and are left out.
pub(crate) const PROTOCOL_SOURCES: [(&str, &str); 40] = [
    ("author.rs", include_str!("../author.rs")),
    ("card.rs", include_str!("../card.rs")),
    ("chain.rs", include_str!("../chain.rs")),
    ("dedup.rs", include_str!("../dedup.rs")),
    ("encoding.rs", include_str!("../encoding.rs")),
    ("event.rs", include_str!("../event.rs")),
    ("genesis.rs", include_str!("../genesis.rs")),
    ("hash.rs", include_str!("../hash.rs")),
    ("keys.rs", include_str!("../keys.rs")),
    ("ledger/apply/members.rs", include_str!("apply/members.rs")),
    ("ledger/apply/mod.rs", include_str!("apply/mod.rs")),
    ("ledger/apply/orgs.rs", include_str!("apply/orgs.rs")),
    ("ledger/apply/reports.rs", include_str!("apply/reports.rs")),
    ("ledger/apply/trade.rs", include_str!("apply/trade.rs")),
    ("ledger/archive.rs", include_str!("archive.rs")),
    ("ledger/audit/build.rs", include_str!("audit/build.rs")),
    ("ledger/audit/mod.rs", include_str!("audit/mod.rs")),
    ("ledger/audit/quorum.rs", include_str!("audit/quorum.rs")),
    ("ledger/chains.rs", include_str!("chains.rs")),
    ("ledger/cold.rs", include_str!("cold.rs")),
    ("ledger/finality.rs", include_str!("finality.rs")),
    ("ledger/frontier.rs", include_str!("frontier.rs")),
    ("ledger/held.rs", include_str!("held.rs")),
    ("ledger/items.rs", include_str!("items.rs")),
    ("ledger/mod.rs", include_str!("mod.rs")),
    ("ledger/packed.rs", include_str!("packed.rs")),
    ("ledger/proof.rs", include_str!("proof.rs")),
    ("ledger/reads.rs", include_str!("reads.rs")),
    ("ledger/resume.rs", include_str!("resume.rs")),
    ("ledger/root.rs", include_str!("root.rs")),
    ("ledger/snapshot.rs", include_str!("snapshot.rs")),
    ("ledger/state.rs", include_str!("state.rs")),
    ("ledger/trie.rs", include_str!("trie.rs")),
    ("lib.rs", include_str!("../lib.rs")),
    ("limits.rs", include_str!("../limits.rs")),
    ("payload.rs", include_str!("../payload.rs")),
    ("peer.rs", include_str!("../peer.rs")),
    ("phone.rs", include_str!("../phone.rs")),
    ("text.rs", include_str!("../text.rs")),
    ("voucher.rs", include_str!("../voucher.rs")),
];

/// BLAKE3 derive-key context of the source fingerprint.
const SOURCE_CONTEXT: &str = "carnet v1 protocol source fingerprint";

/// The crate version and a fingerprint of [`PROTOCOL_SOURCES`]: the build a snapshot
/// must come from.
fn rules_build() -> &'static str {
    static BUILD: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILD.get_or_init(|| {
        let mut h = blake3::Hasher::new_derive_key(SOURCE_CONTEXT);
        for (name, text) in PROTOCOL_SOURCES {
            h.update(&(name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update(&(text.len() as u64).to_le_bytes());
            h.update(text.as_bytes());
        }
        let fingerprint = Hash32(*h.finalize().as_bytes());
        format!(
            "{} {}",
            env!("CARGO_PKG_VERSION"),
            &fingerprint.to_hex()[..16]
        )
    })
}

/// The state after applying a prefix of the ledger order, and what it depended on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub(crate) rules_build: String,
    pub(crate) network: NetworkId,
    /// Last key applied.
    pub(crate) at: OrderKey,
    /// Digest of (id, signature) of every event applied, in ledger order.
    pub(crate) prefix_digest: Hash32,
    pub(crate) state: State,
    /// The finalized claims up to `at`, when it is the end of the finalized prefix.
    pub(crate) finals: Vec<super::Final>,
    /// The chained digest of the finalized prefix (zero before the first claim): what
    /// a start that does not read the finalized events continues from, and checks
    /// against the one its archive recorded ([`super::Ledger::resume`]).
    pub(crate) final_digest: Hash32,
    /// The movements of the finalized epochs the archive had not recorded when it was
    /// taken (the state holds only the tail's): a start that finds the records behind
    /// the snapshot records them from here.
    pub(crate) movements: Vec<(u64, Vec<super::Movement>)>,
}

/// Why a snapshot cannot be used. None of these is an error for a node: it replays.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("the snapshot could not be encoded: {0}")]
    Encode(String),
    #[error("not a ledger snapshot of this format")]
    Format,
    #[error("the snapshot's bytes do not match its checksum")]
    Checksum,
    #[error("the snapshot does not decode: {0}")]
    Decode(String),
    #[error("the snapshot was made by another build of carnet ({0}), whose rules may differ")]
    OtherBuild(String),
    #[error("the snapshot is of network {got}, not {expected}")]
    WrongNetwork { expected: NetworkId, got: NetworkId },
    #[error("the events up to the snapshot's position are not the ones it was folded from")]
    OtherEvents,
}

/// A writer that hashes what goes through it (under a `BufWriter`: in chunks).
struct Hashing<W> {
    inner: W,
    hasher: blake3::Hasher,
    written: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The second part of a snapshot: its state's listings.
#[derive(Deserialize)]
struct Listings(
    #[serde(deserialize_with = "super::packed::map")]
    imbl::OrdMap<crate::hash::ContentId, super::state::ListingState>,
);

/// A writer of one part, a chunk at a time, that hashes what goes through it.
fn part_writer<W: Write>(out: W) -> std::io::BufWriter<Hashing<W>> {
    std::io::BufWriter::with_capacity(
        CHUNK,
        Hashing {
            inner: out,
            hasher: blake3::Hasher::new_derive_key(PART_CONTEXT),
            written: 0,
        },
    )
}

/// The hash and length of what went through a [`part_writer`], once flushed.
fn part_written<W: Write>(part: std::io::BufWriter<Hashing<W>>) -> std::io::Result<(Hash32, u64)> {
    let part = part.into_inner().map_err(|e| e.into_error())?;
    Ok((Hash32(*part.hasher.finalize().as_bytes()), part.written))
}

/// Writes `value` to `out` a chunk at a time; gives the hash of what it wrote and
/// its length.
fn write_part<W: Write>(out: W, value: &impl Serialize) -> std::io::Result<(Hash32, u64)> {
    let mut part = part_writer(out);
    postcard::to_io(value, &mut part).map_err(std::io::Error::other)?;
    part_written(part)
}

/// Writes the (path, leaf hash) pairs of a tree to `out` as they are, in path order,
/// after their count (8 bytes, little-endian): raw bytes, so that a start copies them
/// rather than decoding each of their bytes (at 10M events postcard took 1.2 s over
/// them). Walked out of the tree, never held as a list (381 MB at 10M events).
fn write_tree<W: Write>(out: W, tree: &Trie) -> std::io::Result<(Hash32, u64)> {
    let mut part = part_writer(out);
    part.write_all(&tree.count_leaves().to_le_bytes())?;
    tree.try_for_each_leaf(|(path, hash)| {
        part.write_all(path.as_bytes())?;
        part.write_all(hash.as_bytes())
    })?;
    part_written(part)
}

/// A part as read: the value (or why it does not decode), and the hash and length of
/// every byte the reader gave (or why it could not be read).
type Part<T> = (
    Result<T, SnapshotError>,
    Result<(Hash32, u64), SnapshotError>,
);

/// Decodes a `T` from `reader`, a chunk at a time, and reads it to its end.
fn read_part<R: Read, T: serde::de::DeserializeOwned>(reader: R) -> Part<T> {
    let mut de = postcard::Deserializer::from_flavor(Chunks::new(reader));
    let decoded = T::deserialize(&mut de).map_err(|e| SnapshotError::Decode(e.to_string()));
    // Our flavor's `finalize` gives itself back and cannot fail.
    match de.finalize() {
        Ok(part) => (decoded, part.finish()),
        Err(e) => (decoded, Err(SnapshotError::Decode(e.to_string()))),
    }
}

/// Reads what [`write_tree`] wrote, to the end of `reader`, a chunk at a time, and
/// builds the tree as the pairs come.
fn read_tree<R: Read>(reader: R) -> Part<Trie> {
    let mut part = Chunks::new(reader);
    let decoded = build_tree(&mut part)
        .map_err(|why| SnapshotError::Decode(format!("the tree's pairs {why}")));
    (decoded, part.finish())
}

fn build_tree<R: Read>(part: &mut Chunks<R>) -> Result<Trie, &'static str> {
    part.fill(8).map_err(|_| "have no count")?;
    let mut count = [0u8; 8];
    count.copy_from_slice(&part.buf[part.pos..part.pos + 8]);
    part.pos += 8;
    let count = u64::from_le_bytes(count);
    let mut tree = trie::Builder::new();
    let mut read = 0u64;
    while part.fill(PAIR).is_ok() {
        let pair = &part.buf[part.pos..part.pos + PAIR];
        let mut path = [0u8; 32];
        let mut hash = [0u8; 32];
        path.copy_from_slice(&pair[..32]);
        hash.copy_from_slice(&pair[32..]);
        tree.push(Hash32(path), Hash32(hash))
            .map_err(|_| "are not in path order")?;
        part.pos += PAIR;
        read += 1;
    }
    // `fill` stops short only at the end: nothing may be left but whole pairs.
    match part.pos == part.len && count == read {
        true => Ok(tree.finish()),
        false => Err("do not fill their part"),
    }
}

/// The checksum of a snapshot whose first two parts are `lens` bytes long, from the
/// hashes of its three parts.
fn checksum(lens: [u64; 2], parts: [&Hash32; 3]) -> Hash32 {
    Hash32::derive(
        CHECKSUM_CONTEXT,
        &[
            &lens[0].to_le_bytes(),
            &lens[1].to_le_bytes(),
            parts[0].as_bytes(),
            parts[1].as_bytes(),
            parts[2].as_bytes(),
        ],
    )
}

/// Bytes of a snapshot read or written at a time; also the longest string it can hold, far
/// above any the rules let into a state.
const CHUNK: usize = 1 << 20;

/// postcard's input from a reader, a chunk at a time, hashing every byte as it is
/// read. (postcard's own `from_io` reads each byte with a call to `read_exact`: three
/// times slower to start at 1M events.)
struct Chunks<R> {
    reader: R,
    hasher: blake3::Hasher,
    buf: Vec<u8>,
    /// The next byte to decode, and the end of what was read, in `buf`.
    pos: usize,
    len: usize,
    /// Every byte read so far.
    read: u64,
    /// A read that failed: the snapshot ends there.
    failed: Option<std::io::Error>,
}

impl<R: Read> Chunks<R> {
    fn new(reader: R) -> Self {
        Chunks {
            reader,
            hasher: blake3::Hasher::new_derive_key(PART_CONTEXT),
            buf: vec![0; CHUNK],
            pos: 0,
            len: 0,
            read: 0,
            failed: None,
        }
    }

    /// The hash and length of every byte of the part, once the rest is read: what
    /// the decoder left (or stopped at) is part of the part too.
    fn finish(mut self) -> Result<(Hash32, u64), SnapshotError> {
        self.drain();
        match self.failed {
            Some(e) => Err(SnapshotError::Decode(format!("cannot read it: {e}"))),
            None => Ok((Hash32(*self.hasher.finalize().as_bytes()), self.read)),
        }
    }

    /// Reads into the buffer, after what is still to decode; false at the end.
    fn more(&mut self) -> bool {
        if self.failed.is_some() {
            return false;
        }
        loop {
            match self.reader.read(&mut self.buf[self.len..]) {
                Ok(0) => return false,
                Ok(n) => {
                    self.hasher.update(&self.buf[self.len..self.len + n]);
                    self.len += n;
                    self.read += n as u64;
                    return true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.failed = Some(e);
                    return false;
                }
            }
        }
    }

    /// Makes `n` bytes to decode lie in the buffer at `pos`.
    fn fill(&mut self, n: usize) -> postcard::Result<()> {
        if self.len - self.pos >= n {
            return Ok(());
        }
        if n > CHUNK {
            return Err(postcard::Error::DeserializeUnexpectedEnd);
        }
        self.buf.copy_within(self.pos..self.len, 0);
        self.len -= self.pos;
        self.pos = 0;
        while self.len < n {
            if !self.more() {
                return Err(postcard::Error::DeserializeUnexpectedEnd);
            }
        }
        Ok(())
    }

    /// Reads the rest of the input into the checksum.
    fn drain(&mut self) {
        loop {
            self.pos = 0;
            self.len = 0;
            if !self.more() {
                return;
            }
        }
    }
}

impl<'de, R: Read + 'de> postcard::de_flavors::Flavor<'de> for Chunks<R> {
    type Remainder = Self;
    type Source = ();

    fn pop(&mut self) -> postcard::Result<u8> {
        self.fill(1)?;
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(b)
    }

    /// Nothing in a snapshot decodes borrowed from its input (see
    /// `payload::compact_string`): the input is gone by then.
    fn try_take_n(&mut self, _: usize) -> postcard::Result<&'de [u8]> {
        Err(postcard::Error::DeserializeUnexpectedEnd)
    }

    fn try_take_n_temp<'a>(&'a mut self, n: usize) -> postcard::Result<&'a [u8]>
    where
        'de: 'a,
    {
        self.fill(n)?;
        let at = self.pos;
        self.pos += n;
        Ok(&self.buf[at..at + n])
    }

    fn finalize(self) -> postcard::Result<Self> {
        Ok(self)
    }
}

impl Snapshot {
    /// Events the snapshot's state has applied.
    pub fn applied(&self) -> u64 {
        self.state.applied
    }

    /// The last position in ledger order it covers.
    pub fn at(&self) -> OrderKey {
        self.at
    }

    /// The state it holds.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The finalized epochs it holds and their chained digest (see
    /// [`super::Ledger::finalized_digest`]).
    pub fn finalized_digest(&self) -> (u64, Hash32) {
        (self.finals.len() as u64, self.final_digest)
    }

    /// Magic, a BLAKE3 checksum, the lengths of the first two parts, then three
    /// parts: the snapshot but its listings (postcard); its state's listings
    /// (postcard); the (path, leaf hash) pairs of its state's tree, their count then
    /// their bytes. Three parts, so that a start reads them on three threads
    /// ([`Snapshot::read`]); the checksum binds the lengths and the parts' hashes.
    /// Node-local: the format is this implementation's and not part of the protocol.
    ///
    /// Brings the state's tree up to date first (the changes since its last root; the
    /// whole tree when it has none): call it off the event loop.
    pub fn encode(&self) -> Result<Vec<u8>, SnapshotError> {
        let mut out = std::io::Cursor::new(Vec::new());
        // The copy shares the state's maps and tree: computing its tree leaves this
        // snapshot's as it was.
        self.clone()
            .write_to(&mut out)
            .map_err(|e| SnapshotError::Encode(e.to_string()))?;
        Ok(out.into_inner())
    }

    /// Writes what [`Snapshot::encode`] returns to `out`, a chunk at a time, never
    /// the whole body in memory (at 1M events 246 MiB; at 10M it alone would pass
    /// 2 GiB): the head's place is written first, and filled once the parts are
    /// written. Returns the bytes written; `out` is left at their end.
    ///
    /// The state's tree is kept, for the ledger the snapshot came from to take back
    /// ([`super::Ledger::adopt_saved_tree`]).
    pub fn write_to<W: Write + Seek>(&mut self, out: &mut W) -> std::io::Result<u64> {
        let start = out.stream_position()?;
        out.write_all(&[0; HEAD])?;
        let tree = self.state.keep_tree();
        // The maps share their nodes with this state's: taking the listings out of a
        // copy copies nothing.
        let mut rest = self.clone();
        rest.state.listings = Default::default();
        let (first, len) = write_part(&mut *out, &rest)?;
        let (second, second_len) = write_part(&mut *out, &self.state.listings)?;
        let (third, third_len) = write_tree(&mut *out, &tree)?;
        out.seek(SeekFrom::Start(start))?;
        out.write_all(SNAPSHOT_MAGIC)?;
        out.write_all(checksum([len, second_len], [&first, &second, &third]).as_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&second_len.to_le_bytes())?;
        let end = HEAD as u64 + len + second_len + third_len;
        out.seek(SeekFrom::Start(start + end))?;
        Ok(end)
    }

    /// Decodes what [`Snapshot::encode`] wrote, for `network`, by this build.
    pub fn decode(bytes: &[u8], network: &NetworkId) -> Result<Snapshot, SnapshotError> {
        Self::read(
            |at| {
                Ok(bytes
                    .get(usize::try_from(at).unwrap_or(usize::MAX)..)
                    .unwrap_or(&[]))
            },
            network,
        )
    }

    /// [`Snapshot::decode`] from readers, a part at a time: the bytes are not held
    /// whole beside the state they decode to (at 1M events, 246 MiB of the start's
    /// peak; at 10M they alone would pass 2 GiB). `open(offset)` gives a reader of
    /// the snapshot from that byte on (a node reads its one open file at an offset,
    /// each reader its own): the listings are decoded on a thread of their own, and the
    /// tree's pairs read and the tree built on another, while this one decodes the rest
    /// (at 10M events, 3.4, 2.4 and 1.8 s of CPU: on two threads the tree waited for
    /// the listings, and this thread idled for two thirds of a start). The checksum is
    /// computed as the parts are read, and
    /// checked before anything decoded is returned: a damaged part that still
    /// decodes is refused all the same, and so is a second reader that found
    /// another file (one replaced in between). Each reader is read a chunk at a
    /// time into a buffer of its own: give it the file, not a buffered reader
    /// (which would copy every byte once more).
    pub fn read<R: Read + Send>(
        mut open: impl FnMut(u64) -> std::io::Result<R>,
        network: &NetworkId,
    ) -> Result<Snapshot, SnapshotError> {
        let mut reader =
            open(0).map_err(|e| SnapshotError::Decode(format!("cannot read it: {e}")))?;
        let mut head = [0u8; HEAD];
        reader
            .read_exact(&mut head)
            .map_err(|_| SnapshotError::Format)?;
        let (magic, rest) = head.split_at(SNAPSHOT_MAGIC.len());
        let (sum, lens) = rest.split_at(32);
        if magic != SNAPSHOT_MAGIC.as_slice() {
            return Err(SnapshotError::Format);
        }
        let (len, second_len) = lens.split_at(8);
        let len = u64::from_le_bytes(len.try_into().map_err(|_| SnapshotError::Format)?);
        let second_len =
            u64::from_le_bytes(second_len.try_into().map_err(|_| SnapshotError::Format)?);
        let cannot = |e: std::io::Error| SnapshotError::Decode(format!("cannot read it: {e}"));
        let second = open((HEAD as u64).saturating_add(len)).map_err(cannot)?;
        let third =
            open((HEAD as u64).saturating_add(len).saturating_add(second_len)).map_err(cannot)?;
        let (first, second, third) = std::thread::scope(|scope| {
            let second = scope.spawn(move || read_part::<_, Listings>(second.take(second_len)));
            let third = scope.spawn(move || read_tree(third));
            let first = read_part::<_, Snapshot>(reader.take(len));
            // The threads only decode: they cannot panic but by a bug, which they pass on.
            let second = second
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            let third = third
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (first, second, third)
        });
        let (first, (first_hash, first_len)) = (first.0, first.1?);
        let (second, (second_hash, read_len)) = (second.0, second.1?);
        let (trie, (third_hash, _)) = (third.0, third.1?);
        if first_len != len
            || read_len != second_len
            || checksum([len, second_len], [&first_hash, &second_hash, &third_hash]).as_bytes()
                != sum
        {
            return Err(SnapshotError::Checksum);
        }
        let mut snap = first?;
        let Listings(listings) = second?;
        let trie = trie?;
        if snap.rules_build != rules_build() {
            return Err(SnapshotError::OtherBuild(snap.rules_build));
        }
        if &snap.network != network {
            return Err(SnapshotError::WrongNetwork {
                expected: *network,
                got: snap.network,
            });
        }
        // Saved by this build from this state: the checksum and the build say so.
        snap.state.listings = listings;
        snap.state.restore_trie(trie);
        Ok(snap)
    }

    pub(crate) fn new(
        network: NetworkId,
        at: OrderKey,
        prefix_digest: Hash32,
        state: State,
        finals: Vec<super::Final>,
        final_digest: Hash32,
        movements: Vec<(u64, Vec<super::Movement>)>,
    ) -> Self {
        Snapshot {
            rules_build: rules_build().to_string(),
            network,
            at,
            prefix_digest,
            state,
            finals,
            final_digest,
            movements,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_of_another_build_is_refused() {
        let net = Hash32([1; 32]);
        let mut snap = Snapshot::new(
            net,
            (u64::MAX, 0, 1, Hash32([2; 32])),
            Hash32([3; 32]),
            State::default(),
            Vec::new(),
            Hash32::ZERO,
            Vec::new(),
        );
        let ours = snap.encode().unwrap();
        assert!(Snapshot::decode(&ours, &net).is_ok());
        snap.rules_build = "0.1.0 0123456789abcdef".into();
        let theirs = snap.encode().unwrap();
        assert_eq!(
            Snapshot::decode(&theirs, &net).unwrap_err(),
            SnapshotError::OtherBuild("0.1.0 0123456789abcdef".into())
        );
    }

    /// A ledger fed `events`, with its state's root asked after the first `rooted`.
    fn ledger_of(
        genesis: &crate::Genesis,
        events: &[crate::SignedEvent],
        rooted: usize,
    ) -> super::super::Ledger {
        let mut ledger = super::super::Ledger::new(genesis.clone());
        for (i, ev) in events.iter().enumerate() {
            if i == rooted {
                ledger.state_root();
            }
            ledger.insert(ev.clone()).unwrap();
        }
        ledger
    }

    fn same(
        a: &Option<std::sync::Arc<super::super::root::Committed>>,
        b: &Option<std::sync::Arc<super::super::root::Committed>>,
    ) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    #[test]
    fn a_saved_snapshot_hands_its_tree_back_to_a_ledger_whose_tree_is_older() {
        let (genesis, events) = crate::testkit::workload::generate(500);
        let (events, more) = events.split_at(400);
        // No root asked since the 50th event: a catch-up, which asks for none.
        let mut ledger = ledger_of(&genesis, events, 50);
        let mut snap = ledger.snapshot().unwrap();
        snap.write_to(&mut std::io::Cursor::new(Vec::new()))
            .unwrap();
        let saved = snap.state.tree.clone();
        ledger.adopt_saved_tree(&mut snap);
        assert!(
            same(&ledger.state.tree, &saved),
            "the saved tree is taken back"
        );
        // The root is the one of a ledger that never saw a snapshot, and stays so as
        // events come.
        let mut plain = ledger_of(&genesis, events, 0);
        assert_eq!(ledger.state_root(), plain.state_root());
        for ev in more {
            ledger.insert(ev.clone()).unwrap();
            plain.insert(ev.clone()).unwrap();
        }
        assert_eq!(ledger.state_root(), plain.state_root());
    }

    #[test]
    fn a_ledger_keeps_its_own_tree_when_it_is_newer_than_a_saved_one() {
        let (genesis, events) = crate::testkit::workload::generate(400);
        let mut ledger = ledger_of(&genesis, &events[..300], 0);
        let mut snap = ledger.snapshot().unwrap();
        for ev in &events[300..] {
            ledger.insert(ev.clone()).unwrap();
        }
        ledger.state_root();
        let own = ledger.state.tree.clone();
        snap.write_to(&mut std::io::Cursor::new(Vec::new()))
            .unwrap();
        assert!(snap.state.tree.is_some());
        ledger.adopt_saved_tree(&mut snap);
        assert!(same(&ledger.state.tree, &own), "the newer tree is kept");
        assert_eq!(
            ledger.state_root(),
            ledger_of(&genesis, &events, 0).state_root()
        );
    }

    #[test]
    fn every_source_file_is_fingerprinted() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() && !path.ends_with("testkit") {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let rel = path.strip_prefix(&root).unwrap();
                    found.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        found.sort();
        let listed: Vec<String> = PROTOCOL_SOURCES
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(
            listed, found,
            "PROTOCOL_SOURCES must list every source file, sorted"
        );
    }
}
