//! A bounce message as a reporter hands it to its org node and an auditor reads it:
//! arbitrary bytes through `dsn::parse` and `permanent_failure_for`. Never panics; a
//! verdict of permanent failure always has a 5.x.x status and comes from a message
//! that parses and names the address, as docs/audit.md ("How `evidence.dsn` decides")
//! says: the blocks whose Final-Recipient names it decide, else the one block whose
//! Original-Recipient does, and every deciding block passes.
//!
//! The verdict is asked for a fixed address and for every address the message itself
//! names (up to 4), so the fuzzer reaches the verdict without having to spell out the
//! fixed one.
#![no_main]

use carnet_mail::dsn::{parse, permanent_failure_for, ActionClass, Bounce, RecipientStatus};
use carnet_protocol::card::normalise_email;
use libfuzzer_sys::fuzz_target;

const ADDRESS: &str = "jane.doe@acme.example";

/// Whether `addr` names `email` (docs/audit.md, step 6): equal once both are normalised,
/// ignoring ASCII case.
fn names(addr: &str, email: &str) -> bool {
    match (normalise_email(addr), normalise_email(email)) {
        (Ok(a), Ok(e)) => a.eq_ignore_ascii_case(&e),
        _ => false,
    }
}

/// The deciding blocks for `email`, by the rule as docs/audit.md writes it.
fn deciding<'a>(bounce: &'a Bounce, email: &str) -> Vec<&'a RecipientStatus> {
    let finals: Vec<_> = bounce
        .recipients
        .iter()
        .filter(|r| names(&r.final_recipient, email))
        .collect();
    if !finals.is_empty() {
        return finals;
    }
    bounce
        .recipients
        .iter()
        .filter(|r| r.original_recipient.as_deref().is_some_and(|o| names(o, email)))
        .collect()
}

fn check(data: &[u8], parsed: Option<&Bounce>, email: &str) {
    let Ok(status) = permanent_failure_for(data, email) else {
        return;
    };
    assert_eq!(status.class, 5, "a permanent failure that is not 5.x.x");
    let bounce = parsed.expect("a verdict from a message that does not parse");
    let deciding = deciding(bounce, email);
    assert!(
        !deciding.is_empty(),
        "a verdict for {email:?}, which the message does not name"
    );
    assert!(
        deciding.len() == 1 || names(&deciding[0].final_recipient, email),
        "a verdict for {email:?} from an Original-Recipient it shares with other blocks"
    );
    assert_eq!(
        status, deciding[0].status,
        "the verdict is not the first deciding block's status"
    );
    for r in deciding {
        assert_eq!(r.status.class, 5, "a deciding block that is not 5.x.x: {r:?}");
        assert!(
            matches!(
                r.action_class(),
                ActionClass::Failed | ActionClass::NonStandard
            ),
            "a deciding block whose action is not failed: {r:?}"
        );
        assert!(
            !r.temporary_smtp_reply(),
            "a deciding block whose Diagnostic-Code says retry: {r:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let parsed = parse(data).ok();
    check(data, parsed.as_ref(), ADDRESS);
    let named: Vec<String> = parsed
        .iter()
        .flat_map(|b| &b.recipients)
        .flat_map(|r| std::iter::once(&r.final_recipient).chain(&r.original_recipient))
        .take(4)
        .cloned()
        .collect();
    for email in &named {
        check(data, parsed.as_ref(), email);
    }
});
