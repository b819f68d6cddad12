//! Contacts read from hand-written exports of the usual address books and CRMs.

use carnet_client::contact::ContactDraft;
use carnet_client::import::{
    detect, read, Format, ImportError, ImportRow, RowError, MAX_IMPORT_BYTES,
};

mod formats;

pub(super) fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/import/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub(super) fn rows(name: &str) -> Vec<ImportRow> {
    read(name, &fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[allow(clippy::too_many_arguments)]
fn draft(
    name: &str,
    title: &str,
    company: &str,
    company_domain: Option<&str>,
    email: &str,
    phone: Option<&str>,
    city: Option<&str>,
    postal_address: Option<&str>,
) -> ContactDraft {
    ContactDraft {
        name: name.into(),
        title: title.into(),
        company: company.into(),
        company_domain: company_domain.map(Into::into),
        email: email.into(),
        phone: phone.map(Into::into),
        city: city.map(Into::into),
        postal_address: postal_address.map(Into::into),
    }
}

fn ok(source: &str, d: ContactDraft) -> ImportRow {
    ImportRow::new(source, Ok(d))
}

fn missing(source: &str, fields: &[&'static str]) -> ImportRow {
    ImportRow::new(source, Err(RowError::Missing(fields.to_vec())))
}

#[test]
fn salesforce() {
    assert_eq!(
        rows("salesforce.csv"),
        [
            ok(
                "line 2",
                draft(
                    "Jane Doe",
                    "Head of Procurement",
                    "Acme SA",
                    None,
                    "jane.doe@acme.example",
                    Some("+33 1 42 68 53 00"),
                    Some("Paris"),
                    Some("12 rue de la Paix, 75002 Paris, France"),
                ),
            ),
            ok(
                "line 3",
                draft(
                    "John Smith",
                    "CFO",
                    "Globex Ltd",
                    None,
                    "john.smith@globex.example",
                    Some("020 7946 0958"),
                    Some("London"),
                    Some("1 High Street, Floor 3, EC1A 1BB London, United Kingdom"),
                ),
            ),
            missing("line 5", &["email"]),
        ]
    );
}

#[test]
fn hubspot() {
    assert_eq!(
        rows("hubspot.csv"),
        [
            ok(
                "line 2",
                draft(
                    "Hans Müller",
                    "Einkaufsleiter",
                    "Beispiel GmbH",
                    Some("beispiel.example"),
                    "hans.mueller@beispiel.example",
                    Some("+49 30 901820"),
                    Some("Berlin"),
                    Some("Friedrichstraße 1, 10117 Berlin, Germany"),
                ),
            ),
            ok(
                "line 3",
                draft(
                    "Ana García",
                    "Directora Comercial",
                    "Ejemplo SL",
                    Some("ejemplo.example"),
                    "ana@ejemplo.example",
                    None,
                    Some("Madrid"),
                    None,
                ),
            ),
        ]
    );
}

#[test]
fn google_contacts() {
    assert_eq!(
        rows("google.csv"),
        [
            // The work email over the home one; the mobile skipped for the work line.
            ok(
                "line 2",
                draft(
                    "Emma Clarke",
                    "Partner Manager",
                    "Northwind Traders",
                    None,
                    "emma.clarke@northwind.example",
                    Some("+44 20 7946 0000"),
                    Some("London"),
                    Some("10 Downing Lane, London SW1A 2AA, United Kingdom"),
                ),
            ),
            // "a ::: b" keeps the first; a fax is never a direct line.
            ok(
                "line 5",
                draft(
                    "Luc Martin",
                    "Acheteur",
                    "Exemple SARL",
                    None,
                    "luc.martin@example.fr",
                    Some("+33 1 40 00 00 00"),
                    None,
                    None,
                ),
            ),
        ]
    );
}

#[test]
fn outlook_with_bom() {
    assert_eq!(
        rows("outlook.csv"),
        [
            // "Title" is the honorific here: "Job Title" wins.
            ok(
                "line 2",
                draft(
                    "Olivia M. Wilson",
                    "Account Director",
                    "Contoso Ltd",
                    None,
                    "olivia.wilson@contoso.example",
                    Some("+1 (425) 555-0100"),
                    Some("Redmond"),
                    Some("1 Microsoft Way, Building 5, 98052 Redmond, WA, United States"),
                ),
            ),
            ok(
                "line 3",
                draft(
                    "Kenji Tanaka",
                    "Engineer",
                    "Fabrikam",
                    None,
                    "kenji@fabrikam.example",
                    None,
                    Some("Tokyo"),
                    None,
                ),
            ),
        ]
    );
}

#[test]
fn linkedin_with_notes_above_the_header() {
    assert_eq!(
        rows("linkedin.csv"),
        [
            ok(
                "line 5",
                draft(
                    "Priya Patel",
                    "VP Engineering",
                    "Tailspin Toys",
                    None,
                    "priya.patel@tailspin.example",
                    None,
                    None,
                    None,
                ),
            ),
            missing("line 6", &["email"]),
        ]
    );
}

#[test]
fn carnet_format() {
    assert_eq!(
        rows("carnet.csv"),
        [
            ok(
                "line 2",
                draft(
                    "Jane Doe",
                    "Head of Procurement",
                    "Acme SA",
                    Some("acme.example"),
                    "jane.doe@acme.example",
                    Some("+33142685300"),
                    Some("Paris"),
                    Some("12 rue de la Paix, 75002 Paris"),
                ),
            ),
            ok(
                "line 3",
                draft(
                    "Smith, John",
                    "CFO",
                    "Globex \"UK\" Ltd",
                    None,
                    "john.smith@globex.example",
                    None,
                    None,
                    None,
                ),
            ),
        ]
    );
}

#[test]
fn european_excel_semicolons_and_bom() {
    assert_eq!(
        rows("excel-semicolon.csv"),
        [
            ok(
                "line 2",
                draft(
                    "Chloé Lefèvre",
                    "Directrice financière",
                    "Société Générale d'Exemple",
                    None,
                    "chloe.lefevre@sge.example",
                    Some("04 72 00 00 00"),
                    Some("Lyon"),
                    None,
                ),
            ),
            ok(
                "line 3",
                draft(
                    "Renée Faure",
                    "Gérante",
                    "Dupont; Fils & Cie",
                    None,
                    "renee.faure@dupont.example",
                    None,
                    Some("Nantes"),
                    None,
                ),
            ),
        ]
    );
}

#[test]
fn vcard_3_from_apple_and_outlook() {
    assert_eq!(
        rows("contacts-3.0.vcf"),
        [
            // Work email, work line (never the cell), work address, URL with Apple's "\:".
            ok(
                "card 1 (Dr. Hans Müller)",
                draft(
                    "Dr. Hans Müller",
                    "Einkaufsleiter",
                    "Beispiel GmbH",
                    Some("beispiel.example"),
                    "hans.mueller@beispiel.example",
                    Some("+49 30 901820"),
                    Some("Berlin"),
                    Some("Friedrichstraße 1, 10117 Berlin, Deutschland"),
                ),
            ),
            // Bare 2.1-style parameters, 3.0-only LABEL/CLASS/MAILER, a folded ADR.
            ok(
                "card 2 (John Smith)",
                draft(
                    "John Smith",
                    "CFO",
                    "Globex Ltd",
                    None,
                    "john.smith@globex.example",
                    Some("020 7946 0958"),
                    Some("London"),
                    Some("Floor 3, 1 High Street, EC1A 1BB London, United Kingdom"),
                ),
            ),
            // No FN: the name comes from N. Only a cell number: no phone.
            ok(
                "card 3 (Giulia Ferrari)",
                draft(
                    "Giulia Ferrari",
                    "Responsabile Acquisti",
                    "Esempio S.p.A.",
                    None,
                    "giulia.ferrari@esempio.example",
                    None,
                    None,
                    None,
                ),
            ),
            missing("card 4 (Friend Without Job)", &["title", "company"]),
            // vCard 2.1 is read (it was refused before): this one lacks a job.
            missing("card 5 (Old Card)", &["title", "company", "email"]),
        ]
    );
}

#[test]
fn vcard_4_rfc6350_style_with_crlf() {
    assert_eq!(
        rows("contacts-4.0.vcf"),
        [
            // Escaped ';' kept in ORG; LABEL (RFC 6868 ^n) as the postal address; the
            // first work line, extension and all (the caller refuses extensions), then
            // the other work line for the caller to fall back on.
            ImportRow {
                other_phones: vec!["+1-418-656-9254".into()],
                ..ok(
                "card 1 (Simon Perreault)",
                draft(
                    "Simon Perreault",
                    "Chef de projet",
                    "Viagenie; Recherche inc.",
                    Some("viagenie.example"),
                    "simon.perreault@viagenie.example",
                    Some("+1-418-656-9254;ext=102"),
                    Some("Québec"),
                    Some("Viagenie inc., 2875 boul. Laurier, suite D2-630, Québec, QC G1V 2M2, Canada"),
                ),
            )
            },
            ok(
                "card 2 (Claire Dubois)",
                draft(
                    "Claire Dubois",
                    "Directrice, Achats",
                    "Exemple & Fils",
                    None,
                    "claire.dubois@exemple-fils.example",
                    None,
                    Some("Lyon"),
                    Some("3 place Bellecour, 69002 Lyon, France"),
                ),
            ),
        ]
    );
}

#[test]
fn a_broken_card_does_not_stop_the_others() {
    let text = "BEGIN:VCARD\nVERSION:4.0\nFN:A\nTITLE:T\nORG:O\nEMAIL:a@o.example\nEND:VCARD\nBEGIN:VCARD\nVERSION:4.0\nFN:B\nTITLE:T\nORG:O\nEMAIL:b@o.example\n";
    let rows = read("x.vcf", text.as_bytes()).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].draft.is_ok());
    assert_eq!(rows[1].source, "card 2");
    assert_eq!(
        rows[1].draft.as_ref().unwrap_err().to_string(),
        "unreadable card starting on line 8: no END:VCARD before the end of the file"
    );
}

#[test]
fn malformed_tel_uri_is_read_as_text() {
    // uriparse 0.6.4 panics on this value; vcard4 must never see TEL as a URI.
    let text = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:A\r\nTITLE:T\r\nORG:O\r\nEMAIL:a@o.example\r\nTEL;VALUE=uri;TYPE=work:te;l:+1-418-656-9254\r\nEND:VCARD\r\n";
    let rows = read("x.vcf", text.as_bytes()).unwrap();
    assert_eq!(
        rows[0].draft.as_ref().map(|d| d.phone.as_deref()),
        Ok(Some("te;l:+1-418-656-9254"))
    );
}

#[test]
fn file_level_errors() {
    assert_eq!(
        read("people.csv", b"Id,Nom,Adresse\n1,Jane,Paris\n"),
        Err(ImportError::NoEmailColumn {
            headers: vec!["Id".into(), "Nom".into(), "Adresse".into()]
        })
    );
    assert_eq!(
        read("people.csv", b"Id,Nom,Adresse\n1,Jane,Paris\n")
            .unwrap_err()
            .to_string(),
        "no column holds email addresses; the header row has: Id, Nom, Adresse"
    );
    // Not UTF-8: read as Windows-1252 (it was refused before), and said so.
    let latin1 = read("people.csv", b"name,email\n\xC9ric,eric@x.example\n").unwrap();
    assert_eq!(latin1.len(), 1);
    assert_eq!(
        latin1[0].draft.as_ref().unwrap_err(),
        &RowError::Missing(vec!["title", "company"])
    );
    assert_eq!(latin1[0].source, "line 2");
    assert!(
        latin1[0].warnings[0]
            .starts_with("the file is not UTF-8 text (line 2): read as Windows-1252"),
        "{:?}",
        latin1[0].warnings
    );
    assert_eq!(read("people.csv", b""), Err(ImportError::Empty));
    assert_eq!(read("people.csv", b"name,email\n"), Err(ImportError::Empty));
    assert_eq!(read("people.vcf", b"\r\n"), Err(ImportError::Empty));
    assert!(matches!(
        read("notes.txt", b"hello"),
        Err(ImportError::UnknownFormat { .. })
    ));
    let big = vec![b' '; MAX_IMPORT_BYTES + 1];
    assert_eq!(
        read("big.csv", &big),
        Err(ImportError::TooLarge {
            len: MAX_IMPORT_BYTES + 1
        })
    );
}

#[test]
fn detection_by_content() {
    assert_eq!(
        detect("export", &fixture("contacts-3.0.vcf")),
        Ok(Format::VCard)
    );
    assert_eq!(
        detect("export.CSV", &fixture("contacts-3.0.vcf")),
        Ok(Format::Csv)
    );
}
