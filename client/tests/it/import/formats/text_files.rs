//! CSV and text files as old Excel and Windows tools write them, and the importer's
//! choice among a contact's numbers, its warnings and its counts.

use super::*;

#[test]
fn excel_csv_in_windows_1252() {
    let file = fixture("excel-latin1.csv");
    assert!(
        std::str::from_utf8(&file).is_err(),
        "the fixture is not UTF-8"
    );
    let imported = read_file("excel-latin1.csv", &file).unwrap();
    assert_eq!(imported.warnings.len(), 1);
    assert!(
        imported.warnings[0]
            .starts_with("the file is not UTF-8 text (line 2): read as Windows-1252"),
        "{:?}",
        imported.warnings
    );
    assert_eq!(
        imported.rows,
        [
            // € and œ are in Windows-1252, not Latin-1: read right all the same.
            ok(
                "line 2",
                [
                    "Hélène Bœuf",
                    "Responsable achats (budget > 1 M€)",
                    "Bœuf & Cie",
                    "",
                    "helene.boeuf@boeuf.example",
                    "06 12 34 56 78",
                    "Paris",
                    "",
                ],
                &["01 42 68 53 00"],
            ),
            ok(
                "line 3",
                [
                    "François Lefèvre",
                    "Directeur général",
                    "Société Générale d'Exemple",
                    "",
                    "francois.lefevre@sge.example",
                    "01 42 68 53 00 poste 12",
                    "Créteil",
                    "",
                ],
                &[],
            ),
            ImportRow::new("line 4", Err(RowError::Missing(vec!["email"]))),
        ]
    );
    // The mobile in "Business Phone" gives way to "Business Phone 2".
    let row = imported.rows.into_iter().next().unwrap();
    let (phone, warnings) = chosen(row, Some("FR"));
    assert_eq!(phone.as_deref(), Some("+33142685300"));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn excel_unicode_text_utf16_tabs() {
    let imported = read_file("excel-unicode.csv", &fixture("excel-unicode.csv")).unwrap();
    assert!(imported.warnings.is_empty());
    assert_eq!(
        imported.rows,
        [
            ok(
                "line 2",
                [
                    "山田 太郎",
                    "営業部長",
                    "株式会社サンプル",
                    "",
                    "taro.yamada@sample.example",
                    "+81 3-1234-5678",
                    "",
                    "",
                ],
                &[],
            ),
            ok(
                "line 3",
                [
                    "Søren Kierkegaard",
                    "Indkøbschef",
                    "Eksempel ApS",
                    "",
                    "soren@eksempel.example",
                    "+45 33 12 34 56",
                    "",
                    "",
                ],
                &[],
            ),
        ]
    );
}

#[test]
fn google_csv_untyped_mobile_before_home_line() {
    let mut rows = rows("google-mobile-first.csv");
    assert_eq!(
        rows,
        [ok(
            "line 2",
            [
                "Chloé Lefèvre",
                "Directrice financière",
                "Exemple SAS",
                "",
                "chloe.lefevre@exemple.example",
                "+33 6 12 34 56 78",
                "",
                "",
            ],
            &["+33 4 72 00 00 00"],
        )]
    );
    let (phone, warnings) = chosen(rows.swap_remove(0), None);
    assert_eq!(phone.as_deref(), Some("+33472000000"));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn every_phone_refused_keeps_the_card() {
    let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A B\r\nTITLE:T\r\nORG:O\r\nEMAIL:a@o.example\r\n\
                TEL:+33 6 12 34 56 78\r\nTEL;TYPE=WORK:+33 1 42 68 53 00 ext. 12\r\nEND:VCARD\r\n";
    let row = read("a.vcf", text.as_bytes()).unwrap().swap_remove(0);
    let (phone, warnings) = chosen(row, None);
    assert_eq!(phone, None);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].starts_with("phone +33 1 42 68 53 00 ext. 12 left out: "));
    assert!(warnings[1].starts_with("phone +33 6 12 34 56 78 left out: "));
}

#[test]
fn reader_warnings_name_the_line() {
    // A charset encoding_rs does not know, and a base64 title (old Nokia exports).
    let text = "BEGIN:VCARD\nVERSION:2.1\nN:B;A\nFN;CHARSET=X-UNKNOWN;QUOTED-PRINTABLE:A=20B\n\
                TITLE;ENCODING=BASE64:RGlyZWN0b3I=\nORG:O\nEMAIL:a@o.example\nEND:VCARD\n";
    let rows = read("a.vcf", text.as_bytes()).unwrap();
    assert_eq!(
        rows[0].warnings,
        [
            "line 4: FN names an unknown charset \"X-UNKNOWN\"; read as UTF-8",
            "line 5: TITLE left out: base64-encoded text is not read",
        ]
    );
    assert_eq!(
        rows[0].draft,
        Err(RowError::Missing(vec!["title"])),
        "the card is judged without the title"
    );
    assert_eq!(rows[0].source, "card 1 (A B)");
    // A row's reader warnings come first in what the importer reports.
    let (prepared, warnings) = prepare_row(rows[0].clone(), None, salts());
    assert_eq!(
        prepared.unwrap_err(),
        (Skip::Missing(vec!["title"]), "missing title".into())
    );
    assert_eq!(warnings, rows[0].warnings);
}

#[test]
fn shift_jis_2_1_from_a_japanese_phone() {
    // docomo/au feature phones: 2.1, CRLF, raw Shift_JIS under CHARSET=SHIFT_JIS.
    let mut file = b"BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=SHIFT_JIS:".to_vec();
    file.extend_from_slice(b"\x8eR\x93c;\x91\xbe\x98Y\r\n"); // 山田;太郎
    file.extend_from_slice(b"TITLE;CHARSET=SHIFT_JIS:\x95\x94\x92\xb7\r\n"); // 部長
    file.extend_from_slice(b"ORG:Sample KK\r\nEMAIL;INTERNET:taro@sample.example\r\n");
    file.extend_from_slice(b"TEL;WORK:03-1234-5678\r\nEND:VCARD\r\n");
    let imported = read_file("phone.vcf", &file).unwrap();
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    assert_eq!(
        imported.rows,
        [ok(
            "card 1 (太郎 山田)",
            [
                "太郎 山田",
                "部長",
                "Sample KK",
                "",
                "taro@sample.example",
                "03-1234-5678",
                "",
                "",
            ],
            &[],
        )]
    );
}

#[test]
fn skips_counted_by_reason() {
    let row = |skip: Option<Skip>, warnings: usize| RowReport {
        source: "line 2".into(),
        outcome: match skip {
            None => Outcome::WouldBeAccepted,
            Some(_) => Outcome::Rejected("x".into()),
        },
        skip,
        warnings: vec!["w".into(); warnings],
    };
    let report = Report {
        rows: vec![
            row(None, 1),
            row(Some(Skip::Duplicate), 0),
            row(Some(Skip::Missing(vec!["title"])), 0),
            row(Some(Skip::Missing(vec!["title"])), 2),
            row(Some(Skip::AlreadyImported), 0),
            row(Some(Skip::Duplicate), 0),
            row(Some(Skip::Missing(vec!["title", "email"])), 0),
        ],
        stopped: None,
        not_reached: 0,
    };
    let summary: Vec<String> = report
        .skipped()
        .iter()
        .map(|(skip, n)| format!("{n} {skip}"))
        .collect();
    assert_eq!(
        summary,
        [
            "2 missing title",
            "2 duplicate",
            "1 missing title, email",
            "1 already imported",
        ]
    );
    assert_eq!(report.warned(), 2);
}

/// Russian address books write service numbers with the trunk prefix, `8 800 ...`: the
/// reader hands them on as written, and the phone rules (client/src/phone.rs) read them
/// with the member's region.
#[test]
fn russian_8_800_service_number() {
    let text = "BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=D0=98=D0=B2=D0=B0=D0=BD=D0=BE=D0=B2;=D0=98=D0=B2=D0=B0=D0=BD\r\n\
                TITLE:Director\r\nORG:Primer OOO\r\nEMAIL;INTERNET:ivanov@primer.example\r\n\
                TEL;CELL:8 916 123-45-67\r\nTEL;WORK:8 800 555-35-35\r\nEND:VCARD\r\n";
    let row = read("a.vcf", text.as_bytes()).unwrap().swap_remove(0);
    assert_eq!(row.source, "card 1 (Иван Иванов)");
    let (phone, warnings) = chosen(row, Some("RU"));
    assert_eq!(phone.as_deref(), Some("+78005553535"), "{warnings:?}");
}
