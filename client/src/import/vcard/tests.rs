use super::*;

#[test]
fn caret_round_trip() {
    let s = "12 \"Le Phare\" ^ quai\nParis";
    assert_eq!(decode_caret(&encode_caret(s)), s);
}

#[test]
fn params_rewritten() {
    assert_eq!(rewrite_params(";WORK;VOICE"), ";TYPE=WORK;TYPE=VOICE");
    assert_eq!(rewrite_params(";VALUE=uri;TYPE=work"), ";TYPE=work");
    assert_eq!(
        rewrite_params(";type=WORK;INDEX=2;X-ABLabel=x;LABEL=\"a;b\""),
        ";type=WORK;X-ABLabel=x;LABEL=\"a;b\""
    );
}

#[test]
fn params_rewritten_for_2_1() {
    assert_eq!(
        rewrite_params(";CELL;PREF;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8"),
        ";TYPE=CELL;TYPE=PREF"
    );
    assert_eq!(
        rewrite_params(";HOME;QUOTED-PRINTABLE;8BIT;LANGUAGE=fr"),
        ";TYPE=HOME"
    );
    // Android's custom labels are no type, and vcard4 would refuse them.
    assert_eq!(
        rewrite_params(";X-CUSTOM(CHARSET=UTF-8,ENCODING=QUOTED-PRINTABLE,Direct)"),
        ""
    );
    assert_eq!(rewrite_params(";TYPE=work;PREF=1"), ";TYPE=work;TYPE=pref");
}

#[test]
fn transfer_and_charset() {
    assert_eq!(
        transfer_of(";WORK;ENCODING=QUOTED-PRINTABLE;CHARSET=Windows-1252"),
        (Transfer::QuotedPrintable, Some("Windows-1252".into()))
    );
    assert_eq!(
        transfer_of(";quoted-printable;charset=\"utf-8\""),
        (Transfer::QuotedPrintable, Some("utf-8".into()))
    );
    assert_eq!(
        transfer_of(";ENCODING=b;TYPE=JPEG"),
        (Transfer::Base64, None)
    );
    assert_eq!(transfer_of(";BASE64"), (Transfer::Base64, None));
    assert_eq!(transfer_of(";ENCODING=8BIT"), (Transfer::Plain, None));
    assert_eq!(transfer_of(""), (Transfer::Plain, None));
}

#[test]
fn line_breaks_of_every_kind() {
    let lines = physical_lines(b"a\r\nb\nc\rd\r\n\r\ne");
    let texts: Vec<&[u8]> = lines.iter().map(|(_, l)| *l).collect();
    assert_eq!(texts, [&b"a"[..], b"b", b"c", b"d", b"", b"e"]);
    assert_eq!(
        lines.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
}

fn unfolded(text: &str) -> Vec<(usize, String)> {
    let lines = physical_lines(text.as_bytes());
    let card = cards(&lines).swap_remove(0);
    let keep = version_of(&card).as_deref() == Some("2.1");
    unfold(&card, keep)
        .into_iter()
        .map(|l| (l.line, String::from_utf8_lossy(&l.bytes).into_owned()))
        .collect()
}

#[test]
fn soft_line_breaks_and_folds() {
    // 2.1: a soft break goes on on the next line, indented or not; a fold keeps
    // its white space; the blank line after base64 goes.
    let got = unfolded(
        "BEGIN:VCARD\nVERSION:2.1\nNOTE;QUOTED-PRINTABLE:a=\n=C3=\n=A9\nFN:Jean\n Dupont\n\
         PHOTO;BASE64:\n  AAAA\n\nEND:VCARD\n",
    );
    assert_eq!(
        got,
        [
            (2, "VERSION:2.1".to_owned()),
            (3, "NOTE;QUOTED-PRINTABLE:a=\r\n=C3=\r\n=A9".to_owned()),
            (6, "FN:Jean Dupont".to_owned()),
            (8, "PHOTO;BASE64:  AAAA".to_owned()),
        ]
    );
    // 3.0: a fold drops its one white space character; a line ending in `=` that
    // is not quoted-printable is no soft break.
    let got = unfolded(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jean Du\r\n pont\r\nNOTE:x=\r\nTITLE:T\r\nEND:VCARD\r\n",
    );
    assert_eq!(
        got,
        [
            (2, "VERSION:3.0".to_owned()),
            (3, "FN:Jean Dupont".to_owned()),
            (5, "NOTE:x=".to_owned()),
            (6, "TITLE:T".to_owned()),
        ]
    );
}

#[test]
fn values_decoded() {
    let text = |raw: &[u8], t, charset, utf8| {
        let v = decode_value("FN", raw, t, charset, utf8).map_err(|e| e.to_string())?;
        Ok::<_, String>((v.text, v.guessed, v.note))
    };
    let qp = Transfer::QuotedPrintable;
    assert_eq!(
        text(b"Ren=C3=A9 Lef=\r\n=C3=A8vre", qp, None, true),
        Ok(("René Lefèvre".into(), false, None))
    );
    assert_eq!(
        text(b"Ren=E9", qp, Some("ISO-8859-1"), true),
        Ok(("René".into(), false, None))
    );
    // Quoted-printable with no charset and not UTF-8: Windows-1252, guessed.
    assert_eq!(
        text(b"Ren=E9", qp, None, true),
        Ok(("René".into(), true, None))
    );
    // 8-bit text inside a quoted-printable value is kept.
    assert_eq!(
        text("Ren\u{e9}=20L".as_bytes(), qp, Some("UTF-8"), true),
        Ok(("René L".into(), false, None))
    );
    // In a UTF-8 file, plain text is UTF-8 whatever CHARSET it still names.
    assert_eq!(
        text("René".as_bytes(), Transfer::Plain, Some("ISO-8859-1"), true),
        Ok(("René".into(), false, None))
    );
    assert_eq!(
        text(b"Ren\xE9", Transfer::Plain, Some("ISO-8859-1"), false),
        Ok(("René".into(), false, None))
    );
    assert_eq!(
        text(b"Ren\xE9", Transfer::Plain, None, false),
        Ok(("René".into(), true, None))
    );
    let (t, guessed, note) = text(b"\x82\xA0", Transfer::Plain, Some("UTF-8"), false).unwrap();
    assert_eq!((t.as_str(), guessed), ("\u{FFFD}\u{FFFD}", false));
    assert_eq!(
        note.as_deref(),
        Some("FN is not all UTF-8 text as its CHARSET says: unreadable characters were replaced by \u{FFFD}")
    );
    assert!(text(b"QUJD", Transfer::Base64, None, true).is_err());
}

#[test]
fn values_for_vcard4() {
    assert_eq!(for_vcard4("a\r\nb\nc;d\\;e"), "a\\nb\\nc;d\u{E000}e");
    let mut adr = ";;Via Roma 1;Milano;MI".to_owned();
    pad_address(&mut adr);
    assert_eq!(adr, ";;Via Roma 1;Milano;MI;;");
    let mut adr = ";;a;b;c;d;e;f".to_owned();
    pad_address(&mut adr);
    assert_eq!(adr, ";;a;b;c;d;e;f");
}

#[test]
fn semicolons_protected() {
    assert_eq!(protect_semicolons(r"A\;B;C\\;D"), "A\u{E000}B;C\\\\;D");
}
