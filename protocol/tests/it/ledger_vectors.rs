//! docs/test-vectors/ledger.json: ledger scenarios an independent implementation can
//! replay.
//!
//! A scenario is the genesis, the events (wire form, in ledger order and also
//! shuffled), and the expected state root, balances, outcomes, leaves, finalized claims,
//! and events the ledger must reject at ordering. The file's top level is the main
//! story (main_scenario.rs); its `scenarios` array holds further scenarios of the same
//! shape, each with a `name`: `voids` (voids.rs) makes every void reason the main story
//! leaves out happen once, and every ordering check 1-4 reject once. The tests
//! regenerate the file and compare (CARNET_REGEN_VECTORS=1 rewrites it), replay every
//! scenario from the file and check every expected value, and check that together the
//! scenarios cover every payload kind and void reason (coverage.rs).

use crate::world;

#[path = "ledger_vectors/coverage.rs"]
mod coverage;
#[path = "ledger_vectors/main_scenario.rs"]
mod main_scenario;
#[path = "ledger_vectors/voids.rs"]
mod voids;

use carnet_protocol::ledger::{Ledger, Outcome};
use carnet_protocol::{Genesis, NetworkId, SignedEvent};
use serde_json::{json, Value};
use world::World;

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/test-vectors/ledger.json"
);

/// A scenario's name and generator.
type Scenario = (&'static str, fn() -> Value);

/// The scenarios after the main one, in the file's `scenarios`.
const FURTHER: [Scenario; 1] = [("voids", voids::generate)];

/// The text the file must hold: the main scenario, and the others in `scenarios`.
fn generated() -> String {
    let mut file = main_scenario::generate();
    let further: Vec<Value> = FURTHER
        .iter()
        .map(|(name, generate)| {
            let mut scenario = generate();
            scenario["name"] = json!(name);
            scenario
        })
        .collect();
    file["scenarios"] = json!(further);
    serde_json::to_string_pretty(&file).unwrap() + "\n"
}

/// With CARNET_REGEN_VECTORS=1, rewrites the file, once, before any test reads it
/// (the tests run in parallel).
fn regenerate_once() {
    static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        if carnet_protocol::testkit::regen_vectors() {
            std::fs::write(PATH, generated()).unwrap();
        }
    });
}

/// The file's JSON, as on disk (after [`regenerate_once`]).
pub fn read() -> Value {
    regenerate_once();
    let text = std::fs::read_to_string(PATH).expect("docs/test-vectors/ledger.json");
    serde_json::from_str(&text).unwrap()
}

/// Every scenario of the file, with a label: the main one (the top level), then each
/// of `scenarios`.
pub fn scenarios(file: &Value) -> Vec<(String, &Value)> {
    let mut all = vec![("main".to_owned(), file)];
    for s in file["scenarios"].as_array().expect("scenarios") {
        all.push((s["name"].as_str().expect("a name").to_owned(), s));
    }
    all
}

/// The company vote the scenarios' members cast.
pub fn vote() -> carnet_protocol::Payload {
    use carnet_protocol::payload::*;
    carnet_protocol::Payload::Vote(Vote {
        company_domain: "acme.example".into(),
        employees: EmployeeRange::From1To10,
        revenue: RevenueRange::Under1M,
    })
}

/// An outcome as the files spell it: `applied`, or `void:` and the reason's name.
pub fn outcome_name(o: &Outcome) -> String {
    match o {
        Outcome::Applied => "applied".into(),
        Outcome::Void(r) => format!("void:{r:?}"),
    }
}

fn finals_json(l: &Ledger) -> Value {
    json!(l
        .finals()
        .iter()
        .map(|f| json!({
            "lamport_bound": f.claim.lamport_bound,
            "source_hex": f.claim.source.to_hex(),
            "event_count": f.claim.event_count,
            "events_root_hex": f.claim.events_root.to_hex(),
            "state_root_hex": f.claim.state_root.to_hex(),
        }))
        .collect::<Vec<_>>())
}

/// The file of one scenario: `w`'s log, what applying it gives, and `rejected`
/// (description, event): events a ledger holding the log must reject, each with the
/// code the ledger gives it (checked here to leave the state as it was).
pub fn scenario_json(
    w: &World,
    description: &str,
    rejected: Vec<(&'static str, SignedEvent)>,
) -> Value {
    let mut l = w.ledger();
    let root = l.state_root();
    let state = l.state().clone();
    let ordered: Vec<String> = l.events().map(|e| hex::encode(e.as_bytes())).collect();
    // A fixed shuffle: reversed, so most events arrive before what they depend on.
    let shuffled: Vec<String> = ordered.iter().rev().cloned().collect();
    let balances: serde_json::Map<String, Value> = state
        .accounts
        .iter()
        .map(|(k, a)| {
            (
                k.to_hex(),
                json!({"balance": a.balance, "escrow": a.escrow, "pending": a.pending}),
            )
        })
        .collect();
    let outcomes: serde_json::Map<String, Value> = l
        .events()
        .map(|e| {
            (
                e.id().to_hex(),
                json!(outcome_name(&state.outcome(&e.id()))),
            )
        })
        .collect();
    let finals = finals_json(&l);
    let rejected: Vec<Value> = rejected
        .into_iter()
        .map(|(d, e)| {
            let err = l
                .insert(e.clone())
                .expect_err("a rejected vector is rejected");
            json!({"description": d, "event_hex": hex::encode(e.as_bytes()), "error": err.code()})
        })
        .collect();
    assert_eq!(l.state_root(), root, "a rejected event changes nothing");
    json!({
        "description": description,
        "genesis_hex": hex::encode(w.genesis.to_bytes()),
        "network_id_hex": w.network.to_hex(),
        "events_in_ledger_order_hex": ordered,
        "events_shuffled_hex": shuffled,
        "state_root_hex": root.to_hex(),
        "leaves_hex": state.leaves().iter().map(hex::encode).collect::<Vec<_>>(),
        "leaf_paths_hex": leaf_paths(&state.leaves()),
        "accounts": balances,
        "outcomes": outcomes,
        "finalized_claims": finals,
        "rejected": rejected,
    })
}

/// Each leaf's path in the state tree, in the order of the leaves.
fn leaf_paths(leaves: &[Vec<u8>]) -> Vec<String> {
    leaves
        .iter()
        .map(|b| {
            let leaf: carnet_protocol::ledger::StateLeaf =
                carnet_protocol::encoding::from_canonical(b, 4096).unwrap();
            leaf.key().path().to_hex()
        })
        .collect()
}

/// Replays the scenario of `v` as an independent implementation would, in both arrival
/// orders, and checks every expected value of the file. Returns the network.
pub fn replay(name: &str, v: &Value) -> NetworkId {
    let genesis =
        Genesis::decode(&hex::decode(v["genesis_hex"].as_str().unwrap()).unwrap()).unwrap();
    let net = genesis.network_id();
    assert_eq!(net.to_hex(), v["network_id_hex"], "{name}");
    for key in ["events_in_ledger_order_hex", "events_shuffled_hex"] {
        let mut l = Ledger::new(genesis.clone());
        for h in v[key].as_array().unwrap() {
            let ev = SignedEvent::decode(&hex::decode(h.as_str().unwrap()).unwrap(), &net).unwrap();
            l.insert(ev).unwrap_or_else(|e| panic!("{name} {key}: {e}"));
        }
        assert_eq!(l.pending_len(), 0, "{name} {key}");
        assert_eq!(l.state_root().to_hex(), v["state_root_hex"], "{name} {key}");
        assert_eq!(finals_json(&l), v["finalized_claims"], "{name} {key}");
        let order: Vec<String> = l.events().map(|e| hex::encode(e.as_bytes())).collect();
        assert_eq!(
            json!(order),
            v["events_in_ledger_order_hex"],
            "{name} {key}"
        );
        let ids: std::collections::BTreeSet<String> = l.events().map(|e| e.id().to_hex()).collect();
        let s = l.state();
        let leaves: Vec<String> = s.leaves().iter().map(hex::encode).collect();
        assert_eq!(json!(leaves), v["leaves_hex"], "{name} {key}");
        assert_eq!(
            json!(leaf_paths(&s.leaves())),
            v["leaf_paths_hex"],
            "{name} {key}"
        );
        let accounts = v["accounts"].as_object().unwrap();
        assert_eq!(accounts.len(), s.accounts.len(), "{name} {key}");
        for (k, a) in accounts {
            let acc = s
                .accounts
                .iter()
                .find(|(pk, _)| &pk.to_hex() == k)
                .unwrap_or_else(|| panic!("{name} {key}: no account {k}"))
                .1;
            assert_eq!(json!(acc.balance), a["balance"], "{name} {key} {k}");
            assert_eq!(json!(acc.escrow), a["escrow"], "{name} {key} {k}");
            assert_eq!(json!(acc.pending), a["pending"], "{name} {key} {k}");
        }
        let outcomes = v["outcomes"].as_object().unwrap();
        let listed: std::collections::BTreeSet<String> = outcomes.keys().cloned().collect();
        assert_eq!(listed, ids, "{name} {key}: one outcome per event");
        for (id, o) in outcomes {
            let id = carnet_protocol::Hash32::from_hex(id).unwrap();
            assert_eq!(json!(outcome_name(&s.outcome(&id))), *o, "{name} {key}");
        }
        let root = l.state_root();
        for r in v["rejected"].as_array().unwrap() {
            let bytes = hex::decode(r["event_hex"].as_str().unwrap()).unwrap();
            let ev = SignedEvent::decode(&bytes, &net).unwrap();
            assert!(
                l.missing(&ev).is_empty(),
                "{name}: {} is complete",
                r["description"]
            );
            let err = l.insert(ev).unwrap_err();
            assert_eq!(
                json!(err.code()),
                r["error"],
                "{name}: {}",
                r["description"]
            );
        }
        // A rejected event changes nothing.
        assert_eq!(l.state_root(), root, "{name} {key}");
        assert_eq!(l.len(), v[key].as_array().unwrap().len(), "{name} {key}");
        assert_eq!(l.pending_len(), 0, "{name} {key}");
    }
    net
}

#[test]
fn ledger_vector_file_is_current() {
    regenerate_once();
    let on_disk = std::fs::read_to_string(PATH).expect("docs/test-vectors/ledger.json");
    assert!(
        on_disk == generated(),
        "ledger.json is stale: run with CARNET_REGEN_VECTORS=1"
    );
}

#[test]
fn ledger_vector_scenarios_replay_to_the_expected_state() {
    let file = read();
    let names: Vec<String> = scenarios(&file).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["main", "voids"]);
    for (name, v) in scenarios(&file) {
        replay(&name, v);
    }
}
