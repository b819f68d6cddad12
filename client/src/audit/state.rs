//! State proofs: the contributor's account and the purchase, as leaves under the
//! checkpoint's state root.

use super::bundle::Events;
use super::Report;
use carnet_protocol::encoding::from_canonical;
use carnet_protocol::ledger::audit::{Bundle, StateLeafProof};
use carnet_protocol::ledger::{AccountKind, PurchaseStatus, StateLeaf, StateProof};
use carnet_protocol::Hash32;

fn leaf_check(
    p: &StateLeafProof,
    root: &Hash32,
    expect: impl FnOnce(StateLeaf) -> Result<String, String>,
) -> Result<String, String> {
    let leaf: StateLeaf = from_canonical(&p.leaf_hex, p.leaf_hex.len())
        .map_err(|e| format!("the leaf is not a canonical state leaf: {e}"))?;
    let what = expect(leaf)?;
    if StateProof::from(p).verify(root) {
        Ok(what)
    } else {
        Err(format!(
            "the leaf is not in the state tree under state root {root} ({} siblings)",
            p.siblings_hex.len()
        ))
    }
}

pub(super) fn verify_state(r: &mut Report, b: &Bundle, ev: &Events) {
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
