//! The report itself: the opening of the listing's commitment, the report's status
//! and voucher, and for a bounce the message (evidence hash and DSN); for a mobile
//! report, the number's classification.

use super::bundle::Events;
use super::Report;
use carnet_protocol::card::{commit_email, commit_phone};
use carnet_protocol::hash::evidence_hash;
use carnet_protocol::ledger::audit::{Bundle, MAX_EVIDENCE_BYTES};
use carnet_protocol::ledger::is_mobile_number;
use carnet_protocol::payload::{Opening, Payload};

pub(super) fn verify_opening(r: &mut Report, b: &Bundle, ev: &Events) {
    let listing_ev = if b.listing_update.is_some() {
        &ev.listing_update
    } else {
        &ev.listing
    };
    let name = "opening";
    let Some(pe) = &ev.penalty else {
        r.skip(name, "needs event.penalty");
        return;
    };
    let Some(le) = listing_ev else {
        r.skip(name, "needs the listing event in force");
        return;
    };
    let listing = match le.payload() {
        Payload::Contribute(c) => &c.listing,
        Payload::Update(u) => &u.listing,
        _ => {
            r.skip(name, "needs the listing event in force");
            return;
        }
    };
    // Reports carry no opening (protocol 4): it is in the bundle only when the
    // exporting org included it.
    let opening: Option<Opening> = b.opening.as_ref().map(Opening::from);
    match pe.payload() {
        Payload::BounceReport(br) => {
            let address = match &opening {
                None => {
                    r.skip(name, "the opening is not included");
                    None
                }
                Some(o) if commit_email(o) == listing.email_commitment => {
                    r.add(
                        name,
                        Ok(format!(
                            "{:?} opens the listing's email commitment",
                            o.value
                        )),
                    );
                    Some(o.value.clone())
                }
                Some(_) => {
                    r.add(
                        name,
                        Err("the opening does not open the listing's email commitment".into()),
                    );
                    None
                }
            };
            let st = br.status;
            r.add(
                "report.status",
                if st.is_permanent() {
                    Ok(format!(
                        "{}.{}.{}: a permanent failure",
                        st.class, st.subject, st.detail
                    ))
                } else {
                    Err(format!(
                        "{}.{}.{} is not a permanent failure",
                        st.class, st.subject, st.detail
                    ))
                },
            );
            // protocol.md, "Bounce vouchers": the reporter's org read the message.
            match &ev.reporter_enrollment {
                None => r.skip("report.voucher", "needs event.reporter_enrollment"),
                Some(enr) => {
                    let body = carnet_protocol::voucher::VoucherBody {
                        network: pe.body().network,
                        reporter: pe.author(),
                        purchase_id: br.purchase_id,
                        evidence: br.evidence,
                        status: br.status,
                        email_commitment: listing.email_commitment,
                    };
                    let org = enr.author();
                    r.add(
                        "report.voucher",
                        if carnet_protocol::voucher::verify(&org, &body, &br.voucher) {
                            Ok(format!("vouched for by the reporter's org {org}"))
                        } else {
                            Err(format!(
                                "the voucher does not verify under the key of the reporter's org {org}"
                            ))
                        },
                    );
                }
            }
            let Some(msg) = &b.bounce_message_hex else {
                r.skip("evidence.hash", "the bounce message is not included");
                r.skip("evidence.dsn", "the bounce message is not included");
                return;
            };
            if msg.len() > MAX_EVIDENCE_BYTES {
                r.add(
                    "evidence.hash",
                    Err(format!("the message is over {MAX_EVIDENCE_BYTES} bytes")),
                );
                r.skip("evidence.dsn", "needs evidence.hash");
                return;
            }
            let h = evidence_hash(msg);
            if !r.add(
                "evidence.hash",
                if h == br.evidence {
                    Ok(format!(
                        "the {}-byte message hashes to the evidence {h}",
                        msg.len()
                    ))
                } else {
                    Err(format!(
                        "the message hashes to {h}, the report's evidence is {}",
                        br.evidence
                    ))
                },
            ) {
                r.skip("evidence.dsn", "needs evidence.hash");
                return;
            }
            let Some(address) = address else {
                r.skip(
                    "evidence.dsn",
                    "needs the opening (the address the message names)",
                );
                return;
            };
            let res = match crate::dsn::permanent_failure_for(msg, &address) {
                Ok(s) if s.is_permanent() => Ok(format!(
                    "the message reports {}.{}.{} for {}",
                    s.class, s.subject, s.detail, address
                )),
                Ok(s) => Err(format!(
                    "the message reports {}.{}.{} for {}: not a permanent failure",
                    s.class, s.subject, s.detail, address
                )),
                Err(e) => Err(e.to_string()),
            };
            r.add("evidence.dsn", res);
        }
        Payload::MobileReport(m) => {
            // protocol.md, "Report vouchers": the reporter's org classified the number.
            match (&ev.reporter_enrollment, listing.phone_commitment) {
                (None, _) => r.skip("report.voucher", "needs event.reporter_enrollment"),
                (Some(_), None) => {
                    r.add(
                        "report.voucher",
                        Err("the listing has no phone commitment".into()),
                    );
                }
                (Some(enr), Some(phone_commitment)) => {
                    let body = carnet_protocol::voucher::MobileVoucherBody {
                        network: pe.body().network,
                        reporter: pe.author(),
                        purchase_id: m.purchase_id,
                        phone_commitment,
                    };
                    let org = enr.author();
                    r.add(
                        "report.voucher",
                        if carnet_protocol::voucher::verify_mobile(&org, &body, &m.voucher) {
                            Ok(format!("vouched for by the reporter's org {org}"))
                        } else {
                            Err(format!(
                                "the voucher does not verify under the key of the reporter's org {org}"
                            ))
                        },
                    );
                }
            }
            let Some(o) = &opening else {
                r.skip(name, "the opening is not included");
                r.skip("mobile.classification", "needs the opening");
                return;
            };
            let res = match listing.phone_commitment {
                Some(c) if commit_phone(o) == c => Ok(format!(
                    "{:?} opens the listing's phone commitment",
                    o.value
                )),
                Some(_) => Err("the opening does not open the listing's phone commitment".into()),
                None => Err("the listing has no phone commitment".into()),
            };
            if !r.add(name, res) {
                r.skip("mobile.classification", "needs the opening");
                return;
            }
            r.add(
                "mobile.classification",
                if is_mobile_number(&o.value) {
                    Ok(format!("{} is a mobile number", o.value))
                } else {
                    Err(format!("{} is not classified Mobile", o.value))
                },
            );
        }
        _ => r.skip(name, "needs event.penalty"),
    }
}
