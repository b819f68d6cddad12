//! Files as real exporters write them: vCard 2.1 from Outlook and Android (quoted-
//! printable, soft line breaks, `CHARSET=`), 3.0 from Apple and Google, 4.0 with `tel:`
//! URIs, and files that are not UTF-8 (Windows-1252 from old Excel and Outlook, UTF-16
//! from Windows tools). Each fixture is written after its exporter's documented or
//! observed format, and the comment at its making says which.
//!
//! Then the phone choice: a file rarely says which number is a mobile, so the importer
//! takes the first of a contact's numbers the phone rules accept.

use super::{fixture, rows};
use carnet_client::contact::{ContactDraft, Salts};
use carnet_client::import::{read, read_file, Format, ImportRow, RowError};
use carnet_client::importer::{prepare_row, Outcome, Report, RowReport, Skip};

mod text_files;

/// A draft from its fields in [`ContactDraft`] order, `""` for none.
pub(super) fn draft(fields: [&str; 8]) -> ContactDraft {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let [name, title, company, domain, email, phone, city, postal] = fields;
    ContactDraft {
        name: name.into(),
        title: title.into(),
        company: company.into(),
        company_domain: opt(domain),
        email: email.into(),
        phone: opt(phone),
        city: opt(city),
        postal_address: opt(postal),
    }
}

pub(super) fn ok(source: &str, fields: [&str; 8], other_phones: &[&str]) -> ImportRow {
    ImportRow {
        other_phones: other_phones.iter().map(|p| p.to_string()).collect(),
        ..ImportRow::new(source, Ok(draft(fields)))
    }
}

pub(super) fn salts() -> Salts {
    Salts {
        email: [1; 32],
        phone: [2; 32],
    }
}

/// The phone the card gets once the rules have had their say, and the warnings.
pub(super) fn chosen(row: ImportRow, region: Option<&str>) -> (Option<String>, Vec<String>) {
    let (prepared, warnings) = prepare_row(row, region, salts());
    match prepared {
        Ok(p) => (p.card.phone.map(|p| p.value), warnings),
        Err((_, why)) => panic!("refused: {why}"),
    }
}

#[test]
fn outlook_2_1_windows_1252_with_quoted_printable() {
    let file = fixture("outlook-2.1.vcf");
    assert!(
        std::str::from_utf8(&file).is_err(),
        "the fixture is not UTF-8"
    );
    let imported = read_file("outlook-2.1.vcf", &file).unwrap();
    assert_eq!(imported.format, Format::VCard);
    // Every 8-bit value names its charset: nothing was guessed.
    assert_eq!(imported.warnings, Vec::<String>::new());
    assert_eq!(
        imported.rows,
        [
            // Raw Windows-1252 under CHARSET=; a quoted-printable address with a hard
            // line break (=0D=0A) and soft ones; the work line, never the cell or fax;
            // the photo's base64 lines and the blank line ending them skipped.
            ok(
                "card 1 (René Lefèvre)",
                [
                    "René Lefèvre",
                    "Directeur des achats",
                    "Société Générale d'Exemple",
                    "sge.example",
                    "rene.lefevre@sge.example",
                    "+33 1 42 68 53 00",
                    "Paris",
                    "12 rue de la Paix, Bâtiment C, 75002 Paris, France",
                ],
                &[],
            ),
            // Quoted-printable Windows-1252 in FN and TITLE; the home line kept as a
            // fallback.
            ok(
                "card 2 (Jürgen Weiß)",
                [
                    "Jürgen Weiß",
                    "Geschäftsführer",
                    "Beispiel AG",
                    "",
                    "j.weiss@beispiel.example",
                    "+49 30 901820-15",
                    "Berlin",
                    "Straße des 17. Juni 135, 10623 Berlin, Deutschland",
                ],
                &["+49 30 1234567"],
            ),
        ]
    );
}

#[test]
fn android_2_1_quoted_printable_soft_breaks() {
    assert_eq!(
        rows("android-2.1.vcf"),
        [
            // TEL;CELL;PREF is never the direct line; ORG and ADR continue over soft
            // line breaks (one inside a two-byte UTF-8 letter); the photo's indented
            // base64 is skipped.
            ok(
                "card 1 (Jürgen Müller)",
                [
                    "Jürgen Müller",
                    "Geschäftsführer",
                    "Beispiel Großhandel und Vertriebsgesellschaft mit beschränkter Haftung",
                    "beispiel.example",
                    "juergen.mueller@beispiel.example",
                    "+49 30 901820",
                    "Berlin",
                    "Friedrichstraße 1, Hinterhaus, 10117 Berlin, Deutschland",
                ],
                &[],
            ),
            // An X-CUSTOM label is no type: that number is untyped, so first, and the
            // home line follows for when it turns out a mobile.
            ok(
                "card 2 (Chloé Lefèvre)",
                [
                    "Chloé Lefèvre",
                    "Directrice financière, pôle Europe du Sud et Afrique du Nord",
                    "Exemple SAS",
                    "",
                    "chloe.lefevre@exemple.example",
                    "06 12 34 56 78",
                    "",
                    "",
                ],
                &["04 72 00 00 00"],
            ),
        ]
    );
}

#[test]
fn android_untyped_mobile_falls_back_to_the_home_line() {
    let row = rows("android-2.1.vcf").swap_remove(1);
    let (phone, warnings) = chosen(row, Some("FR"));
    assert_eq!(phone.as_deref(), Some("+33472000000"));
    assert_eq!(
        warnings,
        ["phone 06 12 34 56 78 left out: +33612345678 is a mobile number; Carnet cards carry direct lines only, never mobile numbers"]
    );
}

#[test]
fn ios_3_0_groups_labels_and_full_width_digits() {
    assert_eq!(
        rows("ios-3.0.vcf"),
        [
            // item2.TEL has only a custom label: untyped, and preferred, so first.
            ok(
                "card 1 (René Lefèvre)",
                [
                    "René Lefèvre",
                    "Directeur commercial",
                    "Société Exemple",
                    "exemple.example",
                    "rene.lefevre@exemple.example",
                    "+33 6 98 76 54 32",
                    "Paris",
                    "12 rue de la Paix, 75002 Paris, France",
                ],
                &["+33 1 42 68 53 00"],
            ),
            // Typed on a Japanese keyboard: full-width digits and plus, folded.
            ok(
                "card 2 (山田 太郎)",
                [
                    "山田 太郎",
                    "営業部長",
                    "株式会社サンプル",
                    "",
                    "taro.yamada@sample.example",
                    "+81 3-1234-5678",
                    "千代田区",
                    "丸の内1-1-1, 100-0005 千代田区, 東京都, 日本",
                ],
                &[],
            ),
        ]
    );
    let mut cards = rows("ios-3.0.vcf").into_iter();
    let (phone, warnings) = chosen(cards.next().unwrap(), None);
    assert_eq!(phone.as_deref(), Some("+33142685300"));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("phone +33 6 98 76 54 32 left out: "));
    let (phone, warnings) = chosen(cards.next().unwrap(), None);
    assert_eq!(phone.as_deref(), Some("+81312345678"));
    assert_eq!(warnings, Vec::<String>::new());
}

#[test]
fn google_contacts_3_0() {
    assert_eq!(
        rows("google-3.0.vcf"),
        [
            ok(
                "card 1 (Emma Clarke)",
                [
                    "Emma Clarke",
                    "Partner Manager, EMEA",
                    "Northwind Traders",
                    "northwind.example",
                    "emma.clarke@northwind.example",
                    "+44 7911 123457",
                    "London",
                    "10 Downing Lane, SW1A 2AA London, United Kingdom",
                ],
                &["+44 20 7946 0000"],
            ),
            ok(
                "card 2 (Luc Martin)",
                [
                    "Luc Martin",
                    "Acheteur",
                    "Exemple SARL",
                    "",
                    "luc.martin@exemple.example",
                    "+33 1 40 00 00 00 poste 12",
                    "",
                    "",
                ],
                &[],
            ),
        ]
    );
    let mut cards = rows("google-3.0.vcf").into_iter();
    // The untyped mobile is refused; the home line is used rather than lost.
    let (phone, warnings) = chosen(cards.next().unwrap(), None);
    assert_eq!(phone.as_deref(), Some("+442079460000"));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("phone +44 7911 123457 left out: +447911123457 is a mobile"),
        "{warnings:?}"
    );
    // The only number is not one the rules take: the card is kept without it.
    let (phone, warnings) = chosen(cards.next().unwrap(), None);
    assert_eq!(phone, None);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("phone +33 1 40 00 00 00 poste 12 left out: "),
        "{warnings:?}"
    );
}

#[test]
fn quoted_printable_3_0_is_decoded() {
    // The issue's own example: this came out as "Ren=C3=A9 Lef=C3=A8vre".
    assert_eq!(
        rows("qp-3.0.vcf"),
        [ok(
            "card 1 (René Lefèvre)",
            [
                "René Lefèvre",
                "Directeur général",
                "Société Exemple",
                "",
                "rene.lefevre@exemple.example",
                "+33 1 42 68 53 00",
                "",
                "",
            ],
            &[],
        )]
    );
}

#[test]
fn vcard_4_tel_uris_and_an_extension() {
    assert_eq!(
        rows("thunderbird-4.0.vcf"),
        [
            ok(
                "card 1 (Chloé Lefèvre)",
                [
                    "Chloé Lefèvre",
                    "Directrice financière",
                    "Exemple SAS",
                    "",
                    "chloe.lefevre@exemple.example",
                    "+33-4-72-00-00-01;ext=42",
                    "Lyon",
                    "3 place Bellecour, 69002 Lyon, France",
                ],
                &["+33-4-72-00-00-00"],
            ),
            // An ADR with its last components left off is read all the same.
            ok(
                "card 2 (Marco Rossi)",
                [
                    "Marco Rossi",
                    "Responsabile Acquisti",
                    "Esempio S.p.A.",
                    "",
                    "marco.rossi@esempio.example",
                    "+39-02-1234-5678",
                    "Milano",
                    "Via Roma 1, Milano, MI",
                ],
                &[],
            ),
        ]
    );
    // The work line has an extension: left out, and the untyped line used.
    let row = rows("thunderbird-4.0.vcf").swap_remove(0);
    let (phone, warnings) = chosen(row, None);
    assert_eq!(phone.as_deref(), Some("+33472000000"));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("phone +33-4-72-00-00-01;ext=42 left out: "),
        "{warnings:?}"
    );
    assert!(warnings[0].contains("has an extension"), "{warnings:?}");
}

#[test]
fn latin1_vcard_without_charset() {
    let imported = read_file("latin1-3.0.vcf", &fixture("latin1-3.0.vcf")).unwrap();
    assert_eq!(
        imported.warnings,
        [
            "the file is not UTF-8 text, and some of it names no charset (line 3 and 4 more \
          lines): read as Windows-1252 (Western European, which includes Latin-1); check \
          the accented letters of the imported contacts, and export the file as UTF-8 if \
          they are wrong"
        ]
    );
    assert_eq!(
        imported.rows,
        [
            ok(
                "card 1 (Renée Faure)",
                [
                    "Renée Faure",
                    "Gérante",
                    "Dupont & Fils",
                    "",
                    "renee.faure@dupont.example",
                    "+33 2 40 00 00 00",
                    "Nantes",
                    "5 allée des Tanneurs, 44000 Nantes, France",
                ],
                &[],
            ),
            ok(
                "card 2 (Ana Núñez)",
                [
                    "Ana Núñez",
                    "Directora",
                    "Ejemplo SL",
                    "",
                    "ana.nunez@ejemplo.example",
                    "",
                    "",
                    "",
                ],
                &[],
            ),
        ]
    );
    // `read` puts the file's warnings on the first row, for callers that show only
    // row warnings.
    let rows = rows("latin1-3.0.vcf");
    assert_eq!(rows[0].warnings, imported.warnings);
    assert!(rows[1].warnings.is_empty());
}

#[test]
fn utf16_vcard_with_bom() {
    assert_eq!(
        rows("utf16-3.0.vcf"),
        [ok(
            "card 1 (Søren Kierkegaard)",
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
        )]
    );
    // Recognised by content too, whatever its name.
    let imported = read_file("contacts", &fixture("utf16-3.0.vcf")).unwrap();
    assert_eq!(imported.format, Format::VCard);
    assert!(imported.warnings.is_empty());
}
