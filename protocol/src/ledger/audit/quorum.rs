//! The checkpoint quorum rule, replayed from the evidence alone: the node that builds a
//! bundle and the auditor who checks it decide finality the same way.

use super::*;

/// Who made a claim final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quorum {
    /// Orgs that signed, in ledger order, up to the one that completed the quorum.
    pub signers: Vec<PublicKey>,
    /// Orgs at that point.
    pub orgs: usize,
    /// The signature that completed the quorum.
    /// (Lamport clock, content id) of the signature that completed the quorum.
    pub completed_by: (u64, ContentId),
    /// Orgs admitted by the admissions, in order.
    pub admitted: Vec<PublicKey>,
    /// Orgs evicted by the evictions among them, in order.
    pub evicted: Vec<PublicKey>,
    /// Org keys rotated by the rotations among them, (old, new), in order.
    pub rotated: Vec<(PublicKey, PublicKey)>,
}

/// Replays the org set and the signatures of `claim` as the ledger does
/// (docs/protocol.md, "Finality"): orgs start as the genesis' founders; the Admit,
/// Evict and Rotate events of the claim's prefix, taken in
/// ledger order, change it as they do in the ledger (an Admit by an org adds a vote
/// and, on a quorum of the orgs of that moment, an org; an Evict, on a quorum of the
/// other orgs, removes one; a Rotate, on a quorum of the orgs, replaces the old key by
/// the new one; votes count only while their author is an org). The claim is final
/// when the orgs of the resulting set that signed it are a quorum of that set.
/// Signatures are taken by Lamport clock, then content id, and must already be
/// checked. `admissions` holds the Admit, Evict and Rotate events, in ledger order.
pub fn replay_quorum(
    genesis: &Genesis,
    claim: &CheckpointClaim,
    admissions: &[SignedEvent],
    signatures: &[SignedEvent],
) -> Result<Quorum, QuorumError> {
    let mut sorted: Vec<&SignedEvent> = signatures.iter().collect();
    sorted.sort_by_key(|e| (e.lamport(), e.id()));
    let all: Vec<&SignedEvent> = admissions.iter().chain(sorted).collect();
    let mut ids: Vec<ContentId> = all.iter().map(|e| e.id()).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(QuorumError::Duplicate(w[0]));
    }
    let admit_ids: BTreeSet<ContentId> = admissions.iter().map(|e| e.id()).collect();
    let mut orgs: BTreeSet<PublicKey> = genesis.founding_orgs.iter().map(|o| o.key).collect();
    let mut votes: BTreeMap<PublicKey, BTreeSet<PublicKey>> = BTreeMap::new();
    let mut evictions: BTreeMap<PublicKey, BTreeSet<PublicKey>> = BTreeMap::new();
    let mut rotations: BTreeMap<(PublicKey, PublicKey), BTreeSet<PublicKey>> = BTreeMap::new();
    let mut rotated = Vec::new();
    let mut signers: Vec<PublicKey> = Vec::new();
    let mut admitted = Vec::new();
    let mut evicted = Vec::new();
    let mut completed: Option<((u64, ContentId), usize, usize)> = None;
    let rules = &genesis.rules;
    let current = |orgs: &BTreeSet<PublicKey>, keys: &mut dyn Iterator<Item = &PublicKey>| {
        keys.filter(|k| orgs.contains(*k)).count()
    };
    for ev in all {
        let id = ev.id();
        let author = ev.author();
        if admit_ids.contains(&id) {
            if !orgs.contains(&author) {
                return Err(QuorumError::NotAnOrg(id, author));
            }
            match ev.payload() {
                Payload::Admit(a) => {
                    if orgs.contains(&a.org) {
                        return Err(QuorumError::AlreadyOrg(id, a.org));
                    }
                    let set = votes.entry(a.org).or_default();
                    if !set.insert(author) {
                        return Err(QuorumError::AlreadyVoted(id, author));
                    }
                    if rules.is_quorum(current(&orgs, &mut set.iter()), orgs.len()) {
                        votes.remove(&a.org);
                        orgs.insert(a.org);
                        admitted.push(a.org);
                    }
                }
                Payload::Evict(e) => {
                    if !orgs.contains(&e.org) || e.org == author {
                        return Err(QuorumError::NotEvictable(id, e.org));
                    }
                    let set = evictions.entry(e.org).or_default();
                    if !set.insert(author) {
                        return Err(QuorumError::AlreadyVoted(id, author));
                    }
                    if rules.is_quorum(current(&orgs, &mut set.iter()), orgs.len() - 1) {
                        evictions.remove(&e.org);
                        orgs.remove(&e.org);
                        evicted.push(e.org);
                    }
                }
                Payload::Rotate(k) => {
                    if !orgs.contains(&k.org) {
                        return Err(QuorumError::NotEvictable(id, k.org));
                    }
                    if orgs.contains(&k.to) {
                        return Err(QuorumError::AlreadyOrg(id, k.to));
                    }
                    let set = rotations.entry((k.org, k.to)).or_default();
                    if !set.insert(author) {
                        return Err(QuorumError::AlreadyVoted(id, author));
                    }
                    if rules.is_quorum(current(&orgs, &mut set.iter()), orgs.len()) {
                        rotations.remove(&(k.org, k.to));
                        orgs.remove(&k.org);
                        orgs.insert(k.to);
                        if let Some(v) = evictions.remove(&k.org) {
                            evictions.insert(k.to, v);
                        }
                        rotated.push((k.org, k.to));
                    }
                }
                _ => return Err(QuorumError::WrongKind(id, "admit, evict or rotate")),
            }
            continue;
        }
        let Payload::Checkpoint(c) = ev.payload() else {
            return Err(QuorumError::WrongKind(id, "checkpoint"));
        };
        if CheckpointClaim::from(c) != *claim {
            return Err(QuorumError::OtherClaim(id));
        }
        if ev.lamport() <= claim.lamport_bound {
            return Err(QuorumError::BoundNotBelowClock(
                id,
                ev.lamport(),
                claim.lamport_bound,
            ));
        }
        if !orgs.contains(&author) {
            return Err(QuorumError::NotAnOrg(id, author));
        }
        if signers.contains(&author) {
            return Err(QuorumError::AlreadySigned(id, author));
        }
        signers.push(author);
        let counted = current(&orgs, &mut signers.iter());
        if completed.is_none() && rules.is_quorum(counted, orgs.len()) {
            completed = Some(((ev.lamport(), id), signers.len(), orgs.len()));
        }
    }
    match completed {
        Some((key, n, orgs)) => Ok(Quorum {
            signers: signers.into_iter().take(n).collect(),
            orgs,
            completed_by: key,
            admitted,
            evicted,
            rotated,
        }),
        None => Err(QuorumError::NoQuorum {
            signers: signers.len(),
            orgs: orgs.len(),
            num: rules.quorum_num,
            den: rules.quorum_den,
        }),
    }
}
