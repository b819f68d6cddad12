//! The auditor's side: verify a penalty bundle offline, with nothing but the pinned
//! genesis. No network, no data directory, no trust in any org.
//!
//! Verification is a list of named checks (docs/audit.md, "Checks"), each passing or
//! failing with a reason; a check that needs something an earlier check rejected is
//! skipped. The bundle is accepted only when no check fails, and the first failure is
//! the broken link to report.

pub mod genesis;

use carnet_protocol::card::{commit_email, commit_phone};
use carnet_protocol::encoding::from_canonical;
use carnet_protocol::hash::evidence_hash;
use carnet_protocol::ledger::audit::{
    replay_quorum, Bundle, CheckpointEvidence, CheckpointFile, ProvenEvent, StateLeafProof,
    BUNDLE_FORMAT, CHECKPOINT_FORMAT, MAX_BUNDLE_FILE_BYTES, MAX_EVIDENCE_BYTES,
};
use carnet_protocol::ledger::proof::{verify_consistency, verify_inclusion};
use carnet_protocol::ledger::{
    is_mobile_number, AccountKind, CheckpointClaim, PurchaseStatus, StateLeaf,
};
use carnet_protocol::payload::{Opening, Payload};
use carnet_protocol::{Genesis, Hash32, PublicKey, SignedEvent};
use serde::Serialize;
use std::collections::BTreeSet;

pub use genesis::GenesisFile;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    /// Not run: it needs something that failed, or the bundle leaves it out.
    Skip,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
}

/// Every check run, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// True when no check failed.
    pub fn ok(&self) -> bool {
        self.first_failure().is_none()
    }

    /// The first broken link.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| c.status == Status::Fail)
    }

    fn add(&mut self, name: &str, r: Result<String, String>) -> bool {
        let (status, detail) = match r {
            Ok(d) => (Status::Pass, d),
            Err(d) => (Status::Fail, d),
        };
        self.checks.push(Check {
            name: name.into(),
            status,
            detail,
        });
        status == Status::Pass
    }

    fn skip(&mut self, name: &str, why: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            status: Status::Skip,
            detail: why.into(),
        });
    }
}

/// A file `carnet audit verify` reads: a bundle or a checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditFile {
    Bundle(Box<Bundle>),
    Checkpoint(Box<CheckpointFile>),
}

impl AuditFile {
    /// Parses untrusted bytes: at most [`MAX_BUNDLE_FILE_BYTES`], JSON, one of the
    /// two formats (told apart by `format`), no unknown fields.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_BUNDLE_FILE_BYTES {
            return Err(format!(
                "the file is {} bytes, over the limit of {MAX_BUNDLE_FILE_BYTES}",
                bytes.len()
            ));
        }
        #[derive(serde::Deserialize)]
        struct Head {
            format: String,
        }
        let head: Head =
            serde_json::from_slice(bytes).map_err(|e| format!("not an audit file: {e}"))?;
        match head.format.as_str() {
            BUNDLE_FORMAT => serde_json::from_slice(bytes)
                .map(|b| AuditFile::Bundle(Box::new(b)))
                .map_err(|e| format!("malformed bundle: {e}")),
            CHECKPOINT_FORMAT => serde_json::from_slice(bytes)
                .map(|c| AuditFile::Checkpoint(Box::new(c)))
                .map_err(|e| format!("malformed checkpoint file: {e}")),
            other => Err(format!(
                "unknown format {other:?} (expected {BUNDLE_FORMAT:?} or {CHECKPOINT_FORMAT:?})"
            )),
        }
    }

    fn checkpoint(&self) -> &CheckpointEvidence {
        match self {
            AuditFile::Bundle(b) => &b.checkpoint,
            AuditFile::Checkpoint(c) => &c.checkpoint,
        }
    }
}

/// Verifies `file` against `genesis`; with `later`, also that the later checkpoint is
/// final and that its events extend those of `file`'s checkpoint.
pub fn verify(file: &AuditFile, genesis: &Genesis, later: Option<&CheckpointFile>) -> Report {
    let mut r = Report::default();
    match file {
        AuditFile::Bundle(b) => verify_bundle(&mut r, b, genesis),
        AuditFile::Checkpoint(c) => {
            verify_checkpoint_file(&mut r, "", c, genesis);
        }
    }
    if let Some(l) = later {
        let final_ok = verify_checkpoint_file(&mut r, "later.", l, genesis);
        verify_later(&mut r, file.checkpoint(), l, final_ok);
    }
    r
}

const ROLES: [&str; 7] = [
    "contributor_enrollment",
    "reporter_enrollment",
    "listing",
    "listing_update",
    "purchase",
    "delivery",
    "penalty",
];

fn decode(
    r: &mut Report,
    name: &str,
    bytes: &[u8],
    genesis: &Genesis,
    kinds: &[&str],
) -> Option<SignedEvent> {
    let res = SignedEvent::decode(bytes, &genesis.network_id())
        .map_err(|e| {
            format!(
                "not a valid signed event of this network ({}): {e}",
                e.code()
            )
        })
        .and_then(|ev| {
            let kind = ev.payload().kind();
            if kinds.contains(&kind) {
                Ok(ev)
            } else {
                Err(format!("a {kind} event, expected {}", kinds.join(" or ")))
            }
        });
    match res {
        Ok(ev) => {
            let detail = format!(
                "{} {} signed by {} (lamport {})",
                ev.payload().kind(),
                ev.id(),
                ev.author(),
                ev.lamport()
            );
            r.add(name, Ok(detail));
            Some(ev)
        }
        Err(e) => {
            r.add(name, Err(e));
            None
        }
    }
}

/// Decodes and checks the signatures and admissions, then replays the quorum.
/// Returns the orgs known (founders and admitted) when the checkpoint is final.
fn verify_checkpoint(
    r: &mut Report,
    prefix: &str,
    cp: &CheckpointEvidence,
    genesis: &Genesis,
) -> Option<BTreeSet<PublicKey>> {
    let claim = CheckpointClaim::from(cp.claim);
    let decode_all = |list: &[Vec<u8>], kinds: &[&str]| -> Result<Vec<SignedEvent>, String> {
        list.iter()
            .enumerate()
            .map(|(i, b)| {
                let ev = SignedEvent::decode(b, &genesis.network_id())
                    .map_err(|e| format!("#{i} is not a valid signed event ({}): {e}", e.code()))?;
                if !kinds.contains(&ev.payload().kind()) {
                    return Err(format!(
                        "#{i} is a {}, not a {}",
                        ev.payload().kind(),
                        kinds.join(" or ")
                    ));
                }
                Ok(ev)
            })
            .collect()
    };
    let sigs = decode_all(&cp.signatures_hex, &["checkpoint"]);
    let sigs_ok = r.add(
        &format!("{prefix}checkpoint.signatures"),
        sigs.as_ref()
            .map(|s| format!("{} org-signed Checkpoint events", s.len()))
            .map_err(Clone::clone),
    );
    let adms = decode_all(&cp.admissions_hex, &["admit", "evict", "rotate"]);
    let adms_ok = r.add(
        &format!("{prefix}checkpoint.admissions"),
        adms.as_ref()
            .map(|a| format!("{} Admit, Evict and Rotate events", a.len()))
            .map_err(Clone::clone),
    );
    let name = format!("{prefix}checkpoint.quorum");
    let (Ok(sigs), Ok(adms), true, true) = (sigs, adms, sigs_ok, adms_ok) else {
        r.skip(&name, "needs the signatures and admissions");
        return None;
    };
    match replay_quorum(genesis, &claim, &adms, &sigs) {
        Ok(q) => {
            r.add(
                &name,
                Ok(format!(
                    "claim at bound {} ({} events) signed by {} of {} orgs: more than {}/{}",
                    claim.lamport_bound,
                    claim.event_count,
                    q.signers.len(),
                    q.orgs,
                    genesis.rules.quorum_num,
                    genesis.rules.quorum_den
                )),
            );
            let mut orgs: BTreeSet<PublicKey> =
                genesis.founding_orgs.iter().map(|o| o.key).collect();
            // Every key that was an org: an old key still vouches for what it
            // signed while it was one.
            orgs.extend(q.admitted);
            orgs.extend(q.rotated.iter().map(|(_, to)| *to));
            Some(orgs)
        }
        Err(e) => {
            r.add(&name, Err(e.to_string()));
            None
        }
    }
}

fn verify_checkpoint_file(
    r: &mut Report,
    prefix: &str,
    c: &CheckpointFile,
    genesis: &Genesis,
) -> bool {
    let f = r.add(
        &format!("{prefix}format"),
        if c.format == CHECKPOINT_FORMAT {
            Ok(c.format.clone())
        } else {
            Err(format!(
                "format {:?}, expected {CHECKPOINT_FORMAT:?}",
                c.format
            ))
        },
    );
    let n = check_network(r, prefix, &c.network_id_hex, genesis);
    verify_checkpoint(r, prefix, &c.checkpoint, genesis).is_some() && f && n
}

fn check_network(r: &mut Report, prefix: &str, network: &Hash32, genesis: &Genesis) -> bool {
    r.add(
        &format!("{prefix}network"),
        if *network == genesis.network_id() {
            Ok(format!("{network}: the pinned genesis {:?}", genesis.name))
        } else {
            Err(format!(
                "the file names network {network}, the pinned genesis is {}",
                genesis.network_id()
            ))
        },
    )
}

fn verify_later(r: &mut Report, earlier: &CheckpointEvidence, later: &CheckpointFile, ok: bool) {
    let name = "later.consistency";
    let Some(c) = &later.consistency else {
        r.add(
            name,
            Err("the later checkpoint file carries no consistency proof".into()),
        );
        return;
    };
    if !ok {
        r.skip(name, "needs a final later checkpoint");
        return;
    }
    let (old, new) = (&earlier.claim, &later.checkpoint.claim);
    let res = if c.from_lamport_bound != old.lamport_bound || c.from_event_count != old.event_count
    {
        Err(format!(
            "the proof starts from bound {} ({} events), not this checkpoint's bound {} ({} events)",
            c.from_lamport_bound, c.from_event_count, old.lamport_bound, old.event_count
        ))
    } else if new.lamport_bound < old.lamport_bound {
        Err(format!(
            "the later checkpoint's bound {} is below {}",
            new.lamport_bound, old.lamport_bound
        ))
    } else if verify_consistency(
        old.event_count,
        &old.events_root_hex,
        new.event_count,
        &new.events_root_hex,
        &c.path_hex,
    ) {
        Ok(format!(
            "the {} events up to bound {} are the first {} of the {} up to bound {}: none removed",
            old.event_count, old.lamport_bound, old.event_count, new.event_count, new.lamport_bound
        ))
    } else {
        Err(format!(
            "the events up to bound {} are not a prefix of those up to bound {}: \
             events were removed or changed",
            old.lamport_bound, new.lamport_bound
        ))
    };
    r.add(name, res);
}

fn proven<'a>(b: &'a Bundle, role: &str) -> Option<&'a ProvenEvent> {
    match role {
        "contributor_enrollment" => Some(&b.contributor_enrollment),
        "reporter_enrollment" => Some(&b.reporter_enrollment),
        "listing" => Some(&b.listing),
        "listing_update" => b.listing_update.as_ref(),
        "purchase" => Some(&b.purchase),
        "delivery" => Some(&b.delivery),
        "penalty" => Some(&b.penalty),
        _ => None,
    }
}

fn expected_kinds(role: &str) -> &'static [&'static str] {
    match role {
        "contributor_enrollment" | "reporter_enrollment" => &["enroll"],
        "listing" => &["contribute"],
        "listing_update" => &["update"],
        "purchase" => &["purchase"],
        "delivery" => &["deliver"],
        _ => &["bounce_report", "mobile_report"],
    }
}

/// The decoded events of a bundle, by role (None where missing or broken).
#[derive(Default)]
struct Events {
    contributor_enrollment: Option<SignedEvent>,
    reporter_enrollment: Option<SignedEvent>,
    listing: Option<SignedEvent>,
    listing_update: Option<SignedEvent>,
    purchase: Option<SignedEvent>,
    delivery: Option<SignedEvent>,
    penalty: Option<SignedEvent>,
    /// Whether the optional update decoded (or was absent).
    update_ok: bool,
}

fn verify_bundle(r: &mut Report, b: &Bundle, genesis: &Genesis) {
    r.add(
        "format",
        if b.format == BUNDLE_FORMAT {
            Ok(b.format.clone())
        } else {
            Err(format!("format {:?}, expected {BUNDLE_FORMAT:?}", b.format))
        },
    );
    check_network(r, "", &b.network_id_hex, genesis);

    let mut ev = Events {
        update_ok: true,
        ..Default::default()
    };
    for role in ROLES {
        let Some(p) = proven(b, role) else {
            continue;
        };
        let d = decode(
            r,
            &format!("event.{role}"),
            &p.event_hex,
            genesis,
            expected_kinds(role),
        );
        match role {
            "contributor_enrollment" => ev.contributor_enrollment = d,
            "reporter_enrollment" => ev.reporter_enrollment = d,
            "listing" => ev.listing = d,
            "listing_update" => {
                ev.update_ok = d.is_some();
                ev.listing_update = d;
            }
            "purchase" => ev.purchase = d,
            "delivery" => ev.delivery = d,
            _ => ev.penalty = d,
        }
    }

    let orgs = verify_checkpoint(r, "", &b.checkpoint, genesis);
    let claim = &b.checkpoint.claim;

    for role in ROLES {
        let Some(p) = proven(b, role) else {
            continue;
        };
        let name = format!("inclusion.{role}");
        let Ok(e) = SignedEvent::decode(&p.event_hex, &genesis.network_id()) else {
            r.skip(&name, format!("needs event.{role}"));
            continue;
        };
        let res = if verify_inclusion(
            e.id().as_bytes(),
            p.index,
            claim.event_count,
            &p.path_hex,
            &claim.events_root_hex,
        ) {
            Ok(format!(
                "event {} is #{} of the {} events under the checkpoint",
                e.id(),
                p.index,
                claim.event_count
            ))
        } else {
            Err(format!(
                "event {} is not at #{} under events root {}",
                e.id(),
                p.index,
                claim.events_root_hex
            ))
        };
        r.add(&name, res);
    }

    verify_links(r, b, &ev, orgs.as_ref());
    verify_opening(r, b, &ev);
    verify_state(r, b, &ev);
    verify_dispute(r, b, &ev, genesis);
}

/// docs/audit.md, `dispute`: the contributor's org's finding, shown beside the report.
/// It changes no balance, so it passes when present and well-formed, and is skipped
/// when absent; a dispute that is not the contributor's org's, or of another report,
/// fails.
fn verify_dispute(r: &mut Report, b: &Bundle, ev: &Events, genesis: &Genesis) {
    let name = "dispute";
    let Some(bytes) = &b.dispute_hex else {
        r.skip(name, "the contributor's org did not dispute the report");
        return;
    };
    let (Some(penalty), Some(enr)) = (&ev.penalty, &ev.contributor_enrollment) else {
        r.skip(name, "needs event.penalty and event.contributor_enrollment");
        return;
    };
    let res = match SignedEvent::decode(bytes, &genesis.network_id()) {
        Err(e) => Err(format!("not a valid signed event of this network: {e}")),
        Ok(d) => match d.payload() {
            Payload::Dispute(x) if x.report_id != penalty.id() => Err(format!(
                "the dispute names report {}, not {}",
                x.report_id,
                penalty.id()
            )),
            Payload::Dispute(_) if d.author() != enr.author() => Err(format!(
                "the dispute is signed by {}, not by the contributor's org {}",
                d.author(),
                enr.author()
            )),
            Payload::Dispute(x) => Ok(format!(
                "the contributor's org disputes the report: {:?} (the penalty stands; weigh both)",
                x.finding
            )),
            other => Err(format!("a {} event, not a Dispute", other.kind())),
        },
    };
    r.add(name, res);
}

/// `Some((a, b, ...))` of the named events, or a skip naming the first missing one.
macro_rules! need {
    ($r:expr, $name:expr, $($e:ident),+) => {
        match ($($e.as_ref(),)+) {
            ($(Some($e),)+) => ($($e,)+),
            _ => {
                let missing = [$((stringify!($e), $e.is_some())),+]
                    .iter()
                    .find(|(_, ok)| !ok)
                    .map(|(n, _)| *n)
                    .unwrap_or("an event");
                $r.skip($name, format!("needs event.{missing}"));
                return;
            }
        }
    };
}

fn member_of(enroll: &SignedEvent) -> Option<PublicKey> {
    match enroll.payload() {
        Payload::Enroll(e) => Some(e.member),
        _ => None,
    }
}

fn verify_links(r: &mut Report, b: &Bundle, ev: &Events, orgs: Option<&BTreeSet<PublicKey>>) {
    let Events {
        contributor_enrollment,
        reporter_enrollment,
        listing,
        listing_update,
        purchase,
        delivery,
        penalty,
        update_ok,
    } = ev;
    let org_ok = |org: &PublicKey| -> Result<(), String> {
        match orgs {
            Some(o) if o.contains(org) => Ok(()),
            Some(_) => Err(format!("{org} is not an org of the network")),
            None => Err("the org set is unknown: the checkpoint is not final".into()),
        }
    };

    (|| {
        let name = "link.contributor_enrollment";
        let (en, li) = need!(r, name, contributor_enrollment, listing);
        let res = if member_of(en) != Some(li.author()) {
            Err(format!(
                "the Enroll is not of the listing's contributor {}",
                li.author()
            ))
        } else {
            org_ok(&en.author()).map(|_| {
                format!(
                    "contributor {} enrolled by org {}",
                    li.author(),
                    en.author()
                )
            })
        };
        r.add(name, res);
    })();

    (|| {
        let name = "link.reporter_enrollment";
        let (en, pe, cen) = need!(
            r,
            name,
            reporter_enrollment,
            penalty,
            contributor_enrollment
        );
        let res = if member_of(en) != Some(pe.author()) {
            Err(format!("the Enroll is not of the reporter {}", pe.author()))
        } else if en.author() == cen.author() {
            Err("the reporter and the contributor belong to the same org".into())
        } else {
            org_ok(&en.author())
                .map(|_| format!("reporter {} enrolled by org {}", pe.author(), en.author()))
        };
        r.add(name, res);
    })();

    if b.listing_update.is_some() {
        (|| {
            let name = "link.listing_update";
            if !update_ok {
                r.skip(name, "needs event.listing_update");
                return;
            }
            let (up, li) = need!(r, name, listing_update, listing);
            let res = match up.payload() {
                Payload::Update(u) if u.listing_id != li.id() => Err(format!(
                    "the Update is of listing {}, not {}",
                    u.listing_id,
                    li.id()
                )),
                _ if up.author() != li.author() => {
                    Err("the Update is not signed by the contributor".into())
                }
                _ if b.listing_update.as_ref().map(|u| u.index) >= Some(b.purchase.index) => {
                    Err("the Update comes after the purchase".into())
                }
                _ => Ok(format!(
                    "listing {} updated by its contributor before the purchase",
                    li.id()
                )),
            };
            r.add(name, res);
        })();
    }

    (|| {
        let name = "link.purchase";
        let (pu, li, pe) = need!(r, name, purchase, listing, penalty);
        let res = match pu.payload() {
            Payload::Purchase(p) if p.listing_id != li.id() => Err(format!(
                "the Purchase is of listing {}, not {}",
                p.listing_id,
                li.id()
            )),
            _ if pu.author() != pe.author() => Err("the Purchase is not the reporter's".into()),
            _ => Ok(format!(
                "reporter {} bought listing {}",
                pe.author(),
                li.id()
            )),
        };
        r.add(name, res);
    })();

    (|| {
        let name = "link.delivery";
        let (de, pu, cen) = need!(r, name, delivery, purchase, contributor_enrollment);
        let res = match de.payload() {
            Payload::Deliver(d) if d.purchase_id != pu.id() => Err(format!(
                "the Deliver is of purchase {}, not {}",
                d.purchase_id,
                pu.id()
            )),
            _ if de.author() != cen.author() => Err(format!(
                "delivered by {}, not by the contributor's org {}",
                de.author(),
                cen.author()
            )),
            _ => Ok(format!(
                "purchase {} delivered by the holder org {}",
                pu.id(),
                de.author()
            )),
        };
        r.add(name, res);
    })();

    (|| {
        let name = "link.penalty";
        let (pe, pu) = need!(r, name, penalty, purchase);
        let named = match pe.payload() {
            Payload::BounceReport(x) => x.purchase_id,
            Payload::MobileReport(x) => x.purchase_id,
            _ => Hash32::ZERO,
        };
        let res = if named == pu.id() {
            Ok(format!(
                "the {} names purchase {}",
                pe.payload().kind(),
                pu.id()
            ))
        } else {
            Err(format!(
                "the report names purchase {named}, not {}",
                pu.id()
            ))
        };
        r.add(name, res);
    })();

    let mut order = vec![
        ("contributor_enrollment", b.contributor_enrollment.index),
        ("listing", b.listing.index),
    ];
    if let Some(u) = &b.listing_update {
        order.push(("listing_update", u.index));
    }
    order.extend([
        ("purchase", b.purchase.index),
        ("delivery", b.delivery.index),
        ("penalty", b.penalty.index),
    ]);
    let res = match order.windows(2).find(|w| w[0].1 >= w[1].1) {
        Some(w) => Err(format!(
            "{} (#{}) does not come before {} (#{}) in ledger order",
            w[0].0, w[0].1, w[1].0, w[1].1
        )),
        None if b.reporter_enrollment.index >= b.purchase.index => {
            Err("the reporter's enrollment comes after the purchase".into())
        }
        None => Ok("enrollment, listing, purchase, delivery, report: in ledger order".into()),
    };
    r.add("link.order", res);
}

fn verify_opening(r: &mut Report, b: &Bundle, ev: &Events) {
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

fn leaf_check(
    p: &StateLeafProof,
    root: &Hash32,
    expect: impl FnOnce(StateLeaf) -> Result<String, String>,
) -> Result<String, String> {
    let leaf: StateLeaf = from_canonical(&p.leaf_hex, p.leaf_hex.len())
        .map_err(|e| format!("the leaf is not a canonical state leaf: {e}"))?;
    let what = expect(leaf)?;
    if verify_inclusion(&p.leaf_hex, p.index, p.size, &p.path_hex, root) {
        Ok(what)
    } else {
        Err(format!(
            "the leaf is not at #{} of {} under state root {root}",
            p.index, p.size
        ))
    }
}

fn verify_state(r: &mut Report, b: &Bundle, ev: &Events) {
    let root = b.checkpoint.claim.state_root_hex;
    match &ev.listing {
        Some(li) => {
            let contributor = li.author();
            let res = leaf_check(&b.contributor_account, &root, |leaf| match leaf {
                StateLeaf::Account {
                    key,
                    kind: AccountKind::Member { org },
                    status,
                    balance,
                    escrow,
                    mobile_strikes,
                    ..
                } if key == contributor => Ok(format!(
                    "contributor {key} (org {org}) at the checkpoint: balance {balance}, \
                     escrow {escrow}, {mobile_strikes} mobile strikes, {status:?}"
                )),
                _ => Err(format!(
                    "the leaf is not the account of contributor {contributor}"
                )),
            });
            r.add("state.contributor_account", res);
        }
        None => r.skip("state.contributor_account", "needs event.listing"),
    }
    match (&ev.purchase, &ev.penalty) {
        (Some(pu), Some(pe)) => {
            let (pid, reporter) = (pu.id(), pe.author());
            let res = leaf_check(&b.purchase_state, &root, |leaf| match leaf {
                StateLeaf::Purchase {
                    id,
                    buyer,
                    price,
                    status: PurchaseStatus::Delivered,
                    ..
                } if id == pid && buyer == reporter => Ok(format!(
                    "purchase {id} by {buyer} for {price} points: Delivered"
                )),
                StateLeaf::Purchase { id, status, .. } if id == pid => Err(format!(
                    "purchase {id} is {status:?} at the checkpoint, not Delivered by the reporter"
                )),
                _ => Err(format!("the leaf is not purchase {pid}")),
            });
            r.add("state.purchase", res);
        }
        _ => r.skip("state.purchase", "needs event.purchase and event.penalty"),
    }
}
