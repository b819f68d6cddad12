//! The cards a member contributed, kept beside the key file (`<key file>.cards`), so
//! the member can later update them: the network holds only commitments and the org
//! node keeps its copy to itself. The file holds contact data in clear, readable by
//! its owner only (docs/member.md says so).
//!
//! It is an append-only log, one JSON object per line: a card put under a listing id,
//! or that listing removed. Appending costs the same at any size (rewriting the whole
//! book for each card made a 3,000-row import eight times slower per card than a
//! 300-row one), and a crash tears at most the last line, which loading skips. A book
//! written by an older `carnet` (one JSON array) is still read, and rewritten as a
//! log the first time it changes.

use crate::keyfile::{io, sidecar, KeyFileError};
use carnet_protocol::card::Card;
use carnet_protocol::encoding::{from_canonical, to_canonical};
use carnet_protocol::limits::MAX_SEALED_CARD_BYTES;
use carnet_protocol::{ContentId, Hash32};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest book read: about 350,000 cards, far above what one member contributes.
const MAX_BOOK_BYTES: u64 = 256 << 20;

/// One line of the book.
#[derive(Serialize, Deserialize)]
struct Entry {
    listing: String,
    /// The card in canonical encoding, hex; absent when the listing was removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    card_hex: Option<String>,
}

pub struct CardBook {
    path: PathBuf,
}

impl CardBook {
    pub fn new(key_path: &Path) -> Self {
        CardBook {
            path: sidecar(key_path, "cards"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn bad(&self, reason: String) -> KeyFileError {
        KeyFileError::Invalid {
            path: self.path.clone(),
            reason,
        }
    }

    /// Every card in the book, by listing id, in the order they were first put.
    pub fn load(&self) -> Result<Vec<(ContentId, Card)>, KeyFileError> {
        let file = match fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&self.path)(e)),
        };
        let len = file.metadata().map_err(io(&self.path))?.len();
        if len > MAX_BOOK_BYTES {
            return Err(self.bad(format!(
                "{len} bytes is more than the {MAX_BOOK_BYTES} a card book may hold"
            )));
        }
        let mut bytes = Vec::new();
        file.take(MAX_BOOK_BYTES)
            .read_to_end(&mut bytes)
            .map_err(io(&self.path))?;
        if bytes.first() == Some(&b'[') {
            let entries: Vec<Entry> =
                serde_json::from_slice(&bytes).map_err(|e| self.bad(format!("card book: {e}")))?;
            return self.fold(entries.into_iter().map(Ok));
        }
        let complete = bytes.last() == Some(&b'\n');
        let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        let last = lines.len() - 1;
        let mut entries = Vec::new();
        for (n, line) in lines.into_iter().enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Entry>(line) {
                Ok(e) => entries.push(Ok(e)),
                // The last line, torn by a crash while it was appended: that card's
                // contribution never reached the node (the line is written first).
                Err(_) if n == last && !complete => {}
                Err(e) => entries.push(Err(self.bad(format!("line {}: {e}", n + 1)))),
            }
        }
        self.fold(entries.into_iter())
    }

    fn fold(
        &self,
        entries: impl Iterator<Item = Result<Entry, KeyFileError>>,
    ) -> Result<Vec<(ContentId, Card)>, KeyFileError> {
        let mut order: Vec<ContentId> = Vec::new();
        let mut cards: HashMap<ContentId, Card> = HashMap::new();
        for e in entries {
            let e = e?;
            let id = Hash32::from_hex(&e.listing)
                .ok_or_else(|| self.bad(format!("bad listing id {:?}", e.listing)))?;
            match e.card_hex {
                None => {
                    cards.remove(&id);
                }
                Some(h) => {
                    let card = hex::decode(&h)
                        .ok()
                        .and_then(|b| from_canonical(&b, MAX_SEALED_CARD_BYTES).ok())
                        .ok_or_else(|| {
                            self.bad(format!("card of {} does not decode", e.listing))
                        })?;
                    if cards.insert(id, card).is_none() {
                        order.push(id);
                    }
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        Ok(order
            .into_iter()
            .filter(|id| seen.insert(*id))
            .filter_map(|id| cards.remove(&id).map(|c| (id, c)))
            .collect())
    }

    /// Adds or replaces the card of `listing`: one line appended and synced.
    pub fn put(&self, listing: &ContentId, card: &Card) -> Result<(), KeyFileError> {
        self.append(&Entry {
            listing: listing.to_hex(),
            card_hex: Some(hex::encode(to_canonical(card))),
        })
    }

    /// Forgets the card of `listing` (its contribution was refused).
    pub fn remove(&self, listing: &ContentId) -> Result<(), KeyFileError> {
        self.append(&Entry {
            listing: listing.to_hex(),
            card_hex: None,
        })
    }

    fn append(&self, entry: &Entry) -> Result<(), KeyFileError> {
        self.ready_for_append()?;
        let mut line = serde_json::to_vec(entry).map_err(|e| self.bad(e.to_string()))?;
        line.push(b'\n');
        carnet_api::os::append_private(&self.path, &line).map_err(io(&self.path))
    }

    /// Makes the book ready for a line to be appended, with one open of the file: a
    /// book in the old format (one JSON array) is rewritten as a log, and a torn last
    /// line (a crash while it was appended) is cut off, so the next line starts
    /// clean. The torn line is at most one entry long.
    fn ready_for_append(&self) -> Result<(), KeyFileError> {
        use std::io::{Seek, SeekFrom};
        let mut f = match fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(&self.path)(e)),
        };
        let len = f.metadata().map_err(io(&self.path))?.len();
        let mut first = [0u8; 1];
        if len > 0 && f.read(&mut first).map_err(io(&self.path))? == 1 && first[0] == b'[' {
            drop(f);
            return self.rewrite_as_log();
        }
        let tail_len = len.min(2 * MAX_SEALED_CARD_BYTES as u64 + 4096);
        let mut tail = vec![0u8; tail_len as usize];
        f.seek(SeekFrom::Start(len - tail_len))
            .map_err(io(&self.path))?;
        f.read_exact(&mut tail).map_err(io(&self.path))?;
        if tail.last().is_none_or(|b| *b == b'\n') {
            return Ok(());
        }
        let keep = match tail.iter().rposition(|b| *b == b'\n') {
            Some(i) => len - tail_len + i as u64 + 1,
            None if tail_len == len => 0,
            None => return Err(self.bad("the last line is longer than any card".into())),
        };
        f.set_len(keep).map_err(io(&self.path))?;
        f.sync_data().map_err(io(&self.path))
    }

    /// Rewrites a book in the old format (one JSON array) as a log, atomically.
    fn rewrite_as_log(&self) -> Result<(), KeyFileError> {
        let mut text = Vec::new();
        for (id, card) in self.load()? {
            let entry = Entry {
                listing: id.to_hex(),
                card_hex: Some(hex::encode(to_canonical(&card))),
            };
            text.extend(serde_json::to_vec(&entry).map_err(|e| self.bad(e.to_string()))?);
            text.push(b'\n');
        }
        let tmp = self.path.with_extension("cards.tmp");
        let _ = fs::remove_file(&tmp);
        carnet_api::os::write_new_private(&tmp, &text).map_err(io(&tmp))?;
        fs::rename(&tmp, &self.path).map_err(io(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carnet_protocol::testkit::card;

    fn id(n: u8) -> ContentId {
        Hash32([n; 32])
    }

    #[test]
    fn put_replace_remove_and_order() {
        let dir = tempfile::tempdir().unwrap();
        let book = CardBook::new(&dir.path().join("m.key"));
        assert!(book.load().unwrap().is_empty());
        book.put(&id(1), &card(1)).unwrap();
        book.put(&id(2), &card(2)).unwrap();
        book.put(&id(1), &card(3)).unwrap();
        book.put(&id(4), &card(4)).unwrap();
        book.remove(&id(2)).unwrap();
        let cards = book.load().unwrap();
        assert_eq!(cards, vec![(id(1), card(3)), (id(4), card(4))]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(book.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    /// A crash while a line was appended leaves it torn; the book still loads, and
    /// the next card goes on a line of its own.
    #[test]
    fn a_torn_last_line_is_skipped_and_a_torn_middle_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let book = CardBook::new(&dir.path().join("m.key"));
        book.put(&id(1), &card(1)).unwrap();
        let whole = fs::read(book.path()).unwrap();
        let mut torn = whole.clone();
        torn.extend_from_slice(&whole[..whole.len() / 2]);
        fs::write(book.path(), &torn).unwrap();
        assert_eq!(book.load().unwrap(), vec![(id(1), card(1))]);
        book.put(&id(2), &card(2)).unwrap();
        assert_eq!(
            book.load().unwrap(),
            vec![(id(1), card(1)), (id(2), card(2))]
        );
        torn.extend_from_slice(b"\n");
        torn.extend_from_slice(&whole);
        fs::write(book.path(), &torn).unwrap();
        let err = book.load().unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    /// A book written by an older `carnet` (a JSON array) is read, and becomes a
    /// log when it next changes.
    #[test]
    fn an_old_array_book_is_read_and_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let book = CardBook::new(&dir.path().join("m.key"));
        let old = serde_json::to_vec_pretty(&vec![Entry {
            listing: id(1).to_hex(),
            card_hex: Some(hex::encode(to_canonical(&card(1)))),
        }])
        .unwrap();
        fs::write(book.path(), old).unwrap();
        assert_eq!(book.load().unwrap(), vec![(id(1), card(1))]);
        book.put(&id(2), &card(2)).unwrap();
        assert_eq!(
            book.load().unwrap(),
            vec![(id(1), card(1)), (id(2), card(2))]
        );
        let text = fs::read_to_string(book.path()).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
    }
}
