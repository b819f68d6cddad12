//! A file's bytes as text, whatever encoding its exporter used.
//!
//! A byte order mark names the encoding (UTF-8 from Excel and Windows tools, UTF-16
//! from Excel's "Unicode text" and some Windows address books). Without one, a file is
//! UTF-8 if it decodes as UTF-8: text in a legacy 8-bit encoding almost never does.
//! What is left is read as Windows-1252, what Excel's "CSV" and older Outlook write on
//! Western European systems, and a superset of Latin-1 (ISO-8859-1): every byte means
//! something in it, so nothing is refused, and the importer says so, since a guess can
//! be wrong (a Greek or Cyrillic file would come out garbled).
//!
//! vCards may name a charset per value (`CHARSET=`), so their reader takes the raw
//! bytes and decodes each value itself (see [`super::vcard`]); CSV has no such thing
//! and is decoded whole.

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};
use std::borrow::Cow;

/// The file after its byte order mark, if any, was read.
pub(super) struct FileText<'a> {
    /// UTF-8 when `utf8`; else the file's own bytes, in an encoding it does not name.
    pub bytes: Cow<'a, [u8]>,
    pub utf8: bool,
    /// Where the first byte that is not UTF-8 is, when not `utf8`.
    first_bad_line: usize,
    /// About decoding a file whose BOM named an encoding that its bytes then broke.
    pub warnings: Vec<String>,
}

impl<'a> FileText<'a> {
    pub fn decode(bytes: &'a [u8]) -> Self {
        if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
            let body = bytes.get(bom_len..).unwrap_or_default();
            let (text, had_errors) = encoding.decode_without_bom_handling(body);
            let mut warnings = Vec::new();
            if had_errors {
                warnings.push(format!(
                    "the file starts as {} text but is not all {}: unreadable characters \
                     were replaced by \u{FFFD} (first on line {})",
                    encoding.name(),
                    encoding.name(),
                    first_line_of(text.as_bytes(), '\u{FFFD}'),
                ));
            }
            let bytes = match text {
                Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
                Cow::Owned(s) => Cow::Owned(s.into_bytes()),
            };
            return FileText {
                bytes,
                utf8: true,
                first_bad_line: 0,
                warnings,
            };
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => FileText {
                bytes: Cow::Borrowed(bytes),
                utf8: true,
                first_bad_line: 0,
                warnings: Vec::new(),
            },
            Err(e) => FileText {
                bytes: Cow::Borrowed(bytes),
                utf8: false,
                first_bad_line: line_at(bytes, e.valid_up_to()),
                warnings: Vec::new(),
            },
        }
    }

    /// The whole file as text: legacy bytes read as Windows-1252, with a warning in
    /// `warnings`.
    pub fn whole(&self, warnings: &mut Vec<String>) -> Cow<'_, str> {
        if self.utf8 {
            // Valid UTF-8 by construction; decoding again costs one scan and needs no
            // unchecked conversion.
            return UTF_8.decode_without_bom_handling(&self.bytes).0;
        }
        warnings.push(guessed(
            &[self.first_bad_line],
            "the file is not UTF-8 text",
        ));
        WINDOWS_1252.decode_without_bom_handling(&self.bytes).0
    }
}

/// The warning for text read as Windows-1252 for want of a better guess, first found on
/// `lines[0]`.
pub(super) fn guessed(lines: &[usize], what: &str) -> String {
    let first = lines.first().copied().unwrap_or(1);
    let more = match lines.len() {
        0 | 1 => String::new(),
        2 => " and 1 more line".to_owned(),
        n => format!(" and {} more lines", n - 1),
    };
    format!(
        "{what} (line {first}{more}): read as Windows-1252 (Western European, which \
         includes Latin-1); check the accented letters of the imported contacts, and \
         export the file as UTF-8 if they are wrong"
    )
}

/// The line (from 1) that byte `offset` is on.
fn line_at(bytes: &[u8], offset: usize) -> usize {
    1 + bytes
        .get(..offset)
        .unwrap_or(bytes)
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

/// The line (from 1) of the first `c` in `text`.
fn first_line_of(text: &[u8], c: char) -> usize {
    let mut buf = [0u8; 4];
    let needle = c.encode_utf8(&mut buf).as_bytes();
    let offset = text
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or(0);
    line_at(text, offset)
}

/// The first bytes of the file as UTF-8, enough to recognise a vCard: a UTF-16 file
/// is transcoded, a UTF-8 byte order mark dropped.
pub(super) fn head(bytes: &[u8]) -> Cow<'_, [u8]> {
    match Encoding::for_bom(bytes) {
        Some((encoding, bom_len)) if encoding != UTF_8 => {
            // An even count, so a UTF-16 code unit is never cut in two.
            let end = bytes.len().min(bom_len + 512);
            let body = bytes.get(bom_len..end).unwrap_or_default();
            Cow::Owned(
                encoding
                    .decode_without_bom_handling(body)
                    .0
                    .into_owned()
                    .into_bytes(),
            )
        }
        Some((_, bom_len)) => Cow::Borrowed(bytes.get(bom_len..).unwrap_or_default()),
        None => Cow::Borrowed(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_with_and_without_bom() {
        let t = FileText::decode("é\n".as_bytes());
        assert!(t.utf8);
        assert_eq!(&*t.bytes, "é\n".as_bytes());
        let t = FileText::decode(b"\xEF\xBB\xBFa\xC3\xA9");
        assert!(t.utf8);
        assert_eq!(&*t.bytes, "aé".as_bytes());
        assert!(t.warnings.is_empty());
    }

    #[test]
    fn utf16_both_ways() {
        let le = b"\xFF\xFEa\x00\xE9\x00\n\x00";
        let be = b"\xFE\xFF\x00a\x00\xE9\x00\n";
        for bytes in [&le[..], &be[..]] {
            let t = FileText::decode(bytes);
            assert!(t.utf8);
            assert_eq!(&*t.bytes, "aé\n".as_bytes());
            assert!(t.warnings.is_empty());
        }
        // A lone surrogate.
        let t = FileText::decode(b"\xFF\xFEa\x00\n\x00\x00\xD8b\x00");
        assert_eq!(&*t.bytes, "a\n\u{FFFD}b".as_bytes());
        assert_eq!(t.warnings.len(), 1);
        assert!(t.warnings[0].contains("UTF-16LE"), "{}", t.warnings[0]);
        assert!(t.warnings[0].contains("line 2"), "{}", t.warnings[0]);
    }

    #[test]
    fn legacy_bytes_read_as_windows_1252() {
        let t = FileText::decode(b"name\nRen\xE9 \x80\n");
        assert!(!t.utf8);
        let mut warnings = Vec::new();
        assert_eq!(t.whole(&mut warnings), "name\nRené €\n");
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with("the file is not UTF-8 text (line 2): read as Windows-1252")
        );
    }

    #[test]
    fn guessed_counts_lines() {
        assert!(guessed(&[3, 9, 12], "x").starts_with("x (line 3 and 2 more lines): "));
        assert!(guessed(&[3, 9], "x").starts_with("x (line 3 and 1 more line): "));
    }

    #[test]
    fn heads() {
        assert_eq!(&*head(b"\xEF\xBB\xBFBEGIN"), b"BEGIN");
        assert_eq!(&*head(b"\xFF\xFEB\x00E\x00"), b"BE");
        assert_eq!(&*head(b"BEGIN"), b"BEGIN");
    }
}
