//! Who this node talks to: which connected peers are admitted (they showed a valid
//! [`Hello`] from a current org of the network), and where known peers can be
//! redialled.
//!
//! Both are plain bookkeeping, driven by the event loop with the time and the ledger's
//! answers, so they are tested without sockets.

use crate::network::{Hello, HELLO_TIMEOUT};
use carnet_protocol::{NetworkId, PublicKey};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why a peer is not served. The label is a metric label value; the message is what
/// the peer is told and what the log says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The hello names another network.
    OtherNetwork { theirs: NetworkId },
    /// The attestation does not verify for this peer id (or is not 64 bytes).
    BadAttestation,
    /// A valid attestation by a key that is not a current org of the network (as far
    /// as this node's ledger knows: an org admitted moments ago is refused until the
    /// admission reaches this node, and then accepted on the next dial).
    NotAnOrg { key: PublicKey },
    /// No valid hello within [`HELLO_TIMEOUT`], or the peer does not speak the hello
    /// protocol.
    NoHello,
    /// An admitted peer whose org was evicted or rotated its key away.
    NoLongerAnOrg,
}

impl Refusal {
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::OtherNetwork { .. } => "other_network",
            Refusal::BadAttestation => "bad_attestation",
            Refusal::NotAnOrg { .. } => "not_an_org",
            Refusal::NoHello => "no_hello",
            Refusal::NoLongerAnOrg => "no_longer_an_org",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::OtherNetwork { theirs } => {
                write!(f, "the peer belongs to another network ({theirs})")
            }
            Refusal::BadAttestation => {
                write!(
                    f,
                    "the peer's org attestation does not verify for its peer id"
                )
            }
            Refusal::NotAnOrg { key } => write!(
                f,
                "key {key} is not an org of this network (as this node's ledger knows it); \
                 only the network's orgs are served"
            ),
            Refusal::NoHello => write!(
                f,
                "the peer showed no org attestation within {} s",
                HELLO_TIMEOUT.as_secs()
            ),
            Refusal::NoLongerAnOrg => write!(f, "the peer's org is no longer one of the network"),
        }
    }
}

/// Checks `hello` from `peer`: the org key it proves, or why not.
pub fn check_hello(
    hello: &Hello,
    peer: &PeerId,
    network: &NetworkId,
    is_org: impl Fn(&PublicKey) -> bool,
) -> Result<PublicKey, Refusal> {
    if hello.network != network.0 {
        return Err(Refusal::OtherNetwork {
            theirs: carnet_protocol::Hash32(hello.network),
        });
    }
    let key = PublicKey(hello.org);
    let signature: [u8; 64] = hello
        .attestation
        .as_slice()
        .try_into()
        .map_err(|_| Refusal::BadAttestation)?;
    if !carnet_protocol::peer::verify(&key, network, &peer.to_bytes(), &signature) {
        return Err(Refusal::BadAttestation);
    }
    if !is_org(&key) {
        return Err(Refusal::NotAnOrg { key });
    }
    Ok(key)
}

/// The connected peers and what they proved.
#[derive(Debug, Default)]
pub struct Admission {
    /// Peers that showed a valid hello, and the org each serves.
    admitted: HashMap<PeerId, PublicKey>,
    /// Peers connected and not yet proven, and since when.
    unproven: HashMap<PeerId, Instant>,
    /// Peers refused, and when: closed [`REFUSAL_GRACE`] later, so the refusal and
    /// its reason reach them (closing at once loses it).
    refused: HashMap<PeerId, Instant>,
}

/// How long a refused peer stays connected (served nothing) so that it reads why.
pub const REFUSAL_GRACE: Duration = Duration::from_millis(500);

impl Admission {
    /// A first connection to `peer` opened at `now`.
    pub fn connected(&mut self, peer: PeerId, now: Instant) {
        if !self.admitted.contains_key(&peer) {
            self.unproven.insert(peer, now);
        }
    }

    /// `peer` proved `org`. True if it was not admitted before.
    pub fn admit(&mut self, peer: PeerId, org: PublicKey) -> bool {
        self.unproven.remove(&peer);
        self.refused.remove(&peer);
        self.admitted.insert(peer, org).is_none()
    }

    /// `peer` is refused at `now`; its connection is closed after [`REFUSAL_GRACE`].
    pub fn refuse(&mut self, peer: PeerId, now: Instant) {
        self.unproven.remove(&peer);
        self.admitted.remove(&peer);
        self.refused.entry(peer).or_insert(now);
    }

    /// Refused peers whose grace has run out at `now`: forgotten here, to be closed.
    pub fn to_close(&mut self, now: Instant) -> Vec<PeerId> {
        let due: Vec<PeerId> = self
            .refused
            .iter()
            .filter(|(_, at)| now.saturating_duration_since(**at) >= REFUSAL_GRACE)
            .map(|(p, _)| *p)
            .collect();
        for p in &due {
            self.refused.remove(p);
        }
        due
    }

    pub fn is_admitted(&self, peer: &PeerId) -> bool {
        self.admitted.contains_key(peer)
    }

    /// The last connection to `peer` closed: it proves itself again on the next one.
    pub fn closed(&mut self, peer: &PeerId) {
        self.admitted.remove(peer);
        self.unproven.remove(peer);
        self.refused.remove(peer);
    }

    /// Unproven peers connected for longer than [`HELLO_TIMEOUT`] at `now`: forgotten
    /// here, to be disconnected.
    pub fn overdue(&mut self, now: Instant) -> Vec<PeerId> {
        let late: Vec<PeerId> = self
            .unproven
            .iter()
            .filter(|(_, since)| now.saturating_duration_since(**since) > HELLO_TIMEOUT)
            .map(|(p, _)| *p)
            .collect();
        for p in &late {
            self.unproven.remove(p);
        }
        late
    }

    /// Admitted peers whose org is no longer one (evicted, or rotated to a new key):
    /// dropped here, to be disconnected.
    pub fn no_longer_orgs(&mut self, is_org: impl Fn(&PublicKey) -> bool) -> Vec<PeerId> {
        let gone: Vec<PeerId> = self
            .admitted
            .iter()
            .filter(|(_, org)| !is_org(org))
            .map(|(p, _)| *p)
            .collect();
        for p in &gone {
            self.admitted.remove(p);
        }
        gone
    }

    pub fn admitted(&self) -> impl Iterator<Item = &PeerId> {
        self.admitted.keys()
    }

    pub fn org_of(&self, peer: &PeerId) -> Option<&PublicKey> {
        self.admitted.get(peer)
    }

    pub fn admitted_count(&self) -> usize {
        self.admitted.len()
    }
}

/// Sync requests one peer may make per second, and in a burst: a catch-up of a
/// million events is about 4,000 fetches, sent as the reconciliation finds them.
pub const SYNC_REQUESTS_PER_SECOND: u32 = 200;
/// Gossip messages one peer may hand this node per second, and in a burst (defaults
/// of `gossip_per_second` and `gossip_burst`). Over it, a message is neither read nor
/// forwarded, and not held against the peer: an honest relay of a busy network can
/// get there, and its events come back by sync, which has its own limit.
pub const GOSSIP_MESSAGES_PER_SECOND: u32 = 2000;
pub const GOSSIP_BURST: u32 = 20_000;
pub const SYNC_REQUEST_BURST: u32 = 2000;

/// A token bucket per peer.
#[derive(Debug)]
pub struct RateLimit {
    per_second: f64,
    burst: f64,
    buckets: HashMap<PeerId, (f64, Instant)>,
}

impl RateLimit {
    pub fn new(per_second: u32, burst: u32) -> RateLimit {
        RateLimit {
            per_second: f64::from(per_second),
            burst: f64::from(burst),
            buckets: HashMap::new(),
        }
    }

    /// Takes a token of `peer`'s at `now`, if it has one.
    pub fn allow(&mut self, peer: PeerId, now: Instant) -> bool {
        if self.buckets.len() > 4096 {
            // Forget full buckets: they are the same as new ones.
            let (rate, burst) = (self.per_second, self.burst);
            self.buckets.retain(|_, (tokens, at)| {
                *tokens + now.saturating_duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = self.buckets.entry(peer).or_insert((self.burst, now));
        *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * self.per_second)
            .min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// File in the data directory listing known peers, one multiaddr ending in
/// `/p2p/<peer id>` per line, so a restarted node finds its network without
/// `--bootstrap`.
pub const PEERS_FILE: &str = "peers.txt";
/// Most peers remembered, and addresses per peer.
const MAX_KNOWN_PEERS: usize = 256;
const MAX_ADDRS_PER_PEER: usize = 8;
/// First redial delay after a failed or lost connection; doubled on each failure.
const REDIAL_MIN: Duration = Duration::from_secs(1);
/// Longest redial delay.
pub const REDIAL_MAX: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Known {
    addrs: Vec<Multiaddr>,
    failures: u32,
    next_try: Option<Instant>,
}

/// Peers this node knows how to reach: bootstrap addresses and the addresses admitted
/// peers announced, redialled with backoff while not connected.
#[derive(Debug, Default)]
pub struct AddressBook {
    path: Option<PathBuf>,
    known: BTreeMap<PeerId, Known>,
    dirty: bool,
}

/// The peer id a multiaddr ends with, if any.
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => Some(peer),
        _ => None,
    }
}

impl AddressBook {
    /// The book saved at `path` (empty if there is none). Lines that are not a
    /// multiaddr ending in a peer id are skipped with a warning: the file is a cache,
    /// never a reason not to start.
    pub fn load(path: &Path) -> AddressBook {
        let mut book = AddressBook {
            path: Some(path.to_owned()),
            ..AddressBook::default()
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return book,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read known peers");
                return book;
            }
        };
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match line.parse::<Multiaddr>() {
                Ok(addr) if peer_of(&addr).is_some() => {
                    book.add(addr);
                }
                _ => tracing::warn!(path = %path.display(), line, "skipping a bad known-peer line"),
            }
        }
        book.dirty = false;
        book
    }

    /// Remembers `addr` (which must end in `/p2p/<peer>`). True if it is new.
    pub fn add(&mut self, addr: Multiaddr) -> bool {
        let Some(peer) = peer_of(&addr) else {
            return false;
        };
        if !self.known.contains_key(&peer) && self.known.len() >= MAX_KNOWN_PEERS {
            return false;
        }
        let known = self.known.entry(peer).or_insert(Known {
            addrs: Vec::new(),
            failures: 0,
            next_try: None,
        });
        if known.addrs.contains(&addr) || known.addrs.len() >= MAX_ADDRS_PER_PEER {
            return false;
        }
        known.addrs.push(addr);
        self.dirty = true;
        true
    }

    /// Forgets `peer` (it turned out not to be of this network).
    pub fn forget(&mut self, peer: &PeerId) {
        if self.known.remove(peer).is_some() {
            self.dirty = true;
        }
    }

    /// `peer` is connected: its backoff starts over.
    pub fn reached(&mut self, peer: &PeerId) {
        if let Some(k) = self.known.get_mut(peer) {
            k.failures = 0;
            k.next_try = None;
        }
    }

    /// Known peers to dial at `now`: those not connected whose backoff has run out.
    /// Each one returned waits twice as long before it is returned again, until
    /// [`AddressBook::reached`].
    pub fn due(
        &mut self,
        now: Instant,
        connected: impl Fn(&PeerId) -> bool,
    ) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let mut out = Vec::new();
        for (peer, k) in self.known.iter_mut() {
            if connected(peer) || k.next_try.is_some_and(|t| t > now) {
                continue;
            }
            let delay = REDIAL_MIN
                .saturating_mul(1u32 << k.failures.min(16))
                .min(REDIAL_MAX);
            k.failures = k.failures.saturating_add(1);
            k.next_try = Some(now + delay);
            out.push((*peer, k.addrs.clone()));
        }
        out
    }

    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Writes the book if it changed: to a temporary file renamed over the old one,
    /// owner-only.
    pub fn save(&mut self) -> std::io::Result<()> {
        let Some(path) = self.path.clone().filter(|_| self.dirty) else {
            return Ok(());
        };
        let mut text = String::new();
        for k in self.known.values() {
            for a in &k.addrs {
                text.push_str(&a.to_string());
                text.push('\n');
            }
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new()
            .prefix(PEERS_FILE)
            .suffix(".tmp")
            .tempfile_in(dir)?;
        std::io::Write::write_all(&mut tmp, text.as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carnet_protocol::{Hash32, SecretKey};

    fn net() -> NetworkId {
        Hash32::of(b"peers test network")
    }

    #[test]
    fn a_hello_is_checked_for_network_signature_and_org() {
        let org = SecretKey::from_seed([1; 32]);
        let peer = PeerId::random();
        let is_org = |k: &PublicKey| *k == org.public();
        let hello = Hello::new(&org, &net(), &peer);
        assert_eq!(check_hello(&hello, &peer, &net(), is_org), Ok(org.public()));
        // Replayed by another peer: the attestation names the first.
        let thief = PeerId::random();
        assert_eq!(
            check_hello(&hello, &thief, &net(), is_org),
            Err(Refusal::BadAttestation)
        );
        let other = Hash32::of(b"another network");
        assert_eq!(
            check_hello(&Hello::new(&org, &other, &peer), &peer, &net(), is_org),
            Err(Refusal::OtherNetwork { theirs: other })
        );
        let stranger = SecretKey::from_seed([2; 32]);
        assert_eq!(
            check_hello(&Hello::new(&stranger, &net(), &peer), &peer, &net(), is_org),
            Err(Refusal::NotAnOrg {
                key: stranger.public()
            })
        );
        let mut short = hello.clone();
        short.attestation.pop();
        assert_eq!(
            check_hello(&short, &peer, &net(), is_org),
            Err(Refusal::BadAttestation)
        );
    }

    /// docs/protocol.md gives the bytes of an Ed25519 peer id (peer.json uses them):
    /// they must be libp2p's.
    #[test]
    fn an_ed25519_peer_id_is_the_identity_multihash_of_the_key() {
        let key = libp2p::identity::Keypair::ed25519_from_bytes([0x77; 32]).unwrap();
        let public = ed25519_public(&key);
        let mut expected = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
        expected.extend_from_slice(&public);
        assert_eq!(key.public().to_peer_id().to_bytes(), expected);
    }

    fn ed25519_public(key: &libp2p::identity::Keypair) -> [u8; 32] {
        key.public().try_into_ed25519().unwrap().to_bytes()
    }

    #[test]
    fn unproven_peers_are_overdue_after_the_timeout_and_evicted_orgs_dropped() {
        let t0 = Instant::now();
        let mut a = Admission::default();
        let (p, q) = (PeerId::random(), PeerId::random());
        let org = SecretKey::from_seed([1; 32]).public();
        a.connected(p, t0);
        a.connected(q, t0);
        assert!(a.admit(q, org));
        assert!(!a.is_admitted(&p) && a.is_admitted(&q));
        assert!(a.overdue(t0 + HELLO_TIMEOUT / 2).is_empty());
        assert_eq!(a.overdue(t0 + HELLO_TIMEOUT * 2), vec![p]);
        a.refuse(p, t0);
        assert!(a.to_close(t0).is_empty());
        assert_eq!(a.to_close(t0 + REFUSAL_GRACE), vec![p]);
        assert!(a.to_close(t0 + REFUSAL_GRACE).is_empty());
        assert!(a.no_longer_orgs(|_| true).is_empty());
        assert_eq!(a.no_longer_orgs(|_| false), vec![q]);
        assert_eq!(a.admitted_count(), 0);
    }

    #[test]
    fn a_peer_gets_its_burst_then_its_rate() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(10, 20);
        let (p, q) = (PeerId::random(), PeerId::random());
        assert_eq!((0..25).filter(|_| r.allow(p, t0)).count(), 20);
        assert!(r.allow(q, t0), "buckets are per peer");
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!((0..25).filter(|_| r.allow(p, t1)).count(), 5);
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!((0..25).filter(|_| r.allow(p, t2)).count(), 20);
    }

    #[test]
    fn known_peers_are_redialled_with_backoff_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PEERS_FILE);
        let peer = PeerId::random();
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/4710/p2p/{peer}")
            .parse()
            .unwrap();
        let mut book = AddressBook::load(&path);
        assert!(book.is_empty());
        assert!(book.add(addr.clone()));
        assert!(!book.add(addr.clone()));
        assert!(!book.add("/ip4/127.0.0.1/tcp/1".parse().unwrap()));
        book.save().unwrap();
        let t0 = Instant::now();
        let mut book = AddressBook::load(&path);
        assert_eq!(book.due(t0, |_| false), vec![(peer, vec![addr.clone()])]);
        assert!(book.due(t0, |_| false).is_empty());
        // 1 s after the first try, then 2 s after the second, ...
        assert_eq!(book.due(t0 + REDIAL_MIN, |_| false).len(), 1);
        assert!(book.due(t0 + REDIAL_MIN * 2, |_| false).is_empty());
        assert_eq!(book.due(t0 + REDIAL_MIN * 3, |_| false).len(), 1);
        // ... never more than REDIAL_MAX apart, and not while connected.
        let mut t = t0 + REDIAL_MAX * 100;
        for _ in 0..20 {
            assert_eq!(book.due(t, |_| false).len(), 1);
            t += REDIAL_MAX;
        }
        assert!(book.due(t - Duration::from_millis(1), |_| false).is_empty());
        assert!(book.due(t, |_| true).is_empty());
        assert_eq!(book.due(t, |_| false).len(), 1);
        book.reached(&peer);
        assert_eq!(book.due(t, |_| false).len(), 1);
        // A damaged file costs its bad lines, not the start.
        std::fs::write(&path, format!("garbage\n{addr}\n")).unwrap();
        assert_eq!(AddressBook::load(&path).len(), 1);
    }
}
