//! docs/operator.md's table of limits says what the code enforces: each row is checked
//! against the constant behind it, so the two cannot drift apart again.

use carnet_node::api::{
    MAX_BATCH_BODY_BYTES, MAX_BATCH_EVENTS, MAX_BODY_BYTES, MAX_EVIDENCE_BODY_BYTES,
};
use carnet_node::network::{MAX_GOSSIP_BYTES, MAX_SYNC_REQUEST_BYTES, MAX_SYNC_RESPONSE_BYTES};
use carnet_node::sync::{
    MAX_FETCHES_IN_FLIGHT, MAX_FETCH_IDS, MAX_QUEUED_IDS, MAX_WINDOW_EVENTS, NEGENTROPY_FRAME_BYTES,
};
use carnet_protocol::limits::MAX_EVENT_BYTES;

const OPERATOR: &str = include_str!("../../../docs/operator.md");

/// A size as the operator's guide writes it: whole MiB, else whole KiB (rounded up).
fn size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    if bytes.is_multiple_of(KIB * KIB) {
        format!("{} MiB", bytes / (KIB * KIB))
    } else {
        format!("{} KiB", bytes.div_ceil(KIB))
    }
}

/// The value column of the row whose first column is `what`.
fn row(what: &str) -> String {
    let prefix = format!("| {what} |");
    let line = OPERATOR
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no row {what:?} in docs/operator.md"));
    line[prefix.len()..]
        .trim()
        .trim_end_matches('|')
        .trim()
        .to_owned()
}

#[test]
fn the_operators_table_of_limits_is_what_the_code_enforces() {
    assert_eq!(
        row("one event"),
        format!("{} (protocol limit)", size(MAX_EVENT_BYTES as u64))
    );
    assert_eq!(row("one gossip frame"), size(MAX_GOSSIP_BYTES as u64));
    assert_eq!(
        row("one sync request / response"),
        format!(
            "{} / {}",
            size(MAX_SYNC_REQUEST_BYTES),
            size(MAX_SYNC_RESPONSE_BYTES)
        )
    );
    assert_eq!(
        row("one reconciliation frame"),
        size(NEGENTROPY_FRAME_BYTES)
    );
    assert_eq!(row("events per fetch"), MAX_FETCH_IDS.to_string());
    assert_eq!(
        row("fetches under way per peer, the events they ask for plus those they brought still pending, and ids queued by one reconciliation (catch-up)"),
        format!("{MAX_FETCHES_IN_FLIGHT}, {MAX_WINDOW_EVENTS}, {MAX_QUEUED_IDS}")
    );
    assert_eq!(row("API request body"), size(MAX_BODY_BYTES as u64));
    assert_eq!(
        row("events per `POST /v1/events/batch`, and its request body"),
        format!("{MAX_BATCH_EVENTS}, {}", size(MAX_BATCH_BODY_BYTES as u64))
    );
    assert_eq!(
        row("API request body, `POST /v1/evidence` and `POST /v1/vouchers` (a bounce message in hex)"),
        size(MAX_EVIDENCE_BODY_BYTES as u64)
    );
    use carnet_node::network::{
        MAX_CONNECTIONS_PER_PEER, MAX_INCOMING_CONNECTIONS, MAX_PENDING_INCOMING,
    };
    use carnet_node::peers::{
        GOSSIP_BURST, GOSSIP_MESSAGES_PER_SECOND, SYNC_REQUESTS_PER_SECOND, SYNC_REQUEST_BURST,
    };
    assert_eq!(
        row("peer connections: incoming in all / per peer / incoming handshakes"),
        format!("{MAX_INCOMING_CONNECTIONS} / {MAX_CONNECTIONS_PER_PEER} / {MAX_PENDING_INCOMING}")
    );
    assert!(row("sync requests per peer").starts_with(&format!(
        "{SYNC_REQUESTS_PER_SECOND} per second, bursts of {SYNC_REQUEST_BURST} "
    )));
    assert!(
        row("gossip messages per peer (default)").starts_with(&format!(
            "{GOSSIP_MESSAGES_PER_SECOND} per second, bursts of {GOSSIP_BURST} "
        ))
    );
    assert_eq!(
        row("bounce messages kept per purchase (`POST /v1/vouchers`)"),
        carnet_node::vouch::MAX_MESSAGES_PER_PURCHASE.to_string()
    );
    use carnet_node::serve::{
        DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_REQUEST_TIMEOUT,
    };
    assert_eq!(
        row("API connections open (default; at the cap a new one closes the oldest idle one)"),
        DEFAULT_MAX_CONNECTIONS.to_string()
    );
    assert_eq!(
        row("API request headers, then the whole request (default)"),
        format!(
            "{} s, then {} s",
            DEFAULT_HEADER_TIMEOUT.as_secs(),
            DEFAULT_REQUEST_TIMEOUT.as_secs()
        )
    );
}
