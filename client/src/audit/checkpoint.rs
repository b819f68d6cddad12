//! Checkpoint checks: the quorum of org signatures over a claim, the network, and
//! the consistency proof from a checkpoint to a later one.

use super::Report;
use carnet_protocol::ledger::audit::{
    replay_quorum, CheckpointEvidence, CheckpointFile, CHECKPOINT_FORMAT,
};
use carnet_protocol::ledger::proof::verify_consistency;
use carnet_protocol::ledger::CheckpointClaim;
use carnet_protocol::{Genesis, Hash32, PublicKey, SignedEvent};
use std::collections::BTreeSet;

/// Decodes and checks the signatures and admissions, then replays the quorum.
/// Returns the orgs known (founders and admitted) when the checkpoint is final.
pub(super) fn verify_checkpoint(
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

pub(super) fn verify_checkpoint_file(
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

pub(super) fn check_network(
    r: &mut Report,
    prefix: &str,
    network: &Hash32,
    genesis: &Genesis,
) -> bool {
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

pub(super) fn verify_later(
    r: &mut Report,
    earlier: &CheckpointEvidence,
    later: &CheckpointFile,
    ok: bool,
) {
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
