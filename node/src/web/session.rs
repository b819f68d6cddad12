//! Web app sessions, kept in memory only (docs/web.md, "Sessions"): who is signed in,
//! the key the node signs with for them, their CSRF token, and when the session ends.
//! Pure: the caller passes the time and the random bytes, so every rule is tested
//! without a clock or a socket.

use carnet_protocol::{PublicKey, SecretKey};
use std::collections::HashMap;

/// A session ends this long after its last request.
pub const IDLE_MS: u64 = 30 * 60 * 1000;
/// And this long after sign-in, however busy.
pub const ABSOLUTE_MS: u64 = 12 * 60 * 60 * 1000;
/// Sessions held at most: past this a new sign-in ends the one idle longest, so that
/// sign-ins cannot fill the node's memory.
pub const MAX_SESSIONS: usize = 10_000;

/// Who a session acts for.
#[derive(Clone)]
pub enum Who {
    /// A member, with the secret key opened at sign-in; dropped with the session.
    Member { key: Box<SecretKey>, handle: String },
    /// The org's operator, signed in with the admin token (which the session does not
    /// keep: holding a session is the authority).
    Operator,
}

impl Who {
    pub fn member(&self) -> Option<PublicKey> {
        match self {
            Who::Member { key, .. } => Some(key.public()),
            Who::Operator => None,
        }
    }
}

/// What the cookie holds: a random 256-bit id, as hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionId(pub String);

pub struct Session {
    pub who: Who,
    /// Sent back with every state-changing request ([`Sessions::check_csrf`]).
    pub csrf: String,
    started_ms: u64,
    last_ms: u64,
}

#[derive(Default)]
pub struct Sessions {
    /// Keyed by BLAKE3 of the id, so that a lookup compares hashes, not the secret
    /// itself, and a timing difference says nothing about a valid id.
    by_id: HashMap<[u8; 32], Session>,
}

fn slot(id: &SessionId) -> [u8; 32] {
    *blake3::hash(id.0.as_bytes()).as_bytes()
}

impl Sessions {
    /// Starts a session for `who` at `now_ms`, from 64 random bytes (the id, then the
    /// CSRF token).
    pub fn start(&mut self, who: Who, now_ms: u64, random: [u8; 64]) -> (SessionId, String) {
        self.sweep(now_ms);
        if self.by_id.len() >= MAX_SESSIONS {
            if let Some(oldest) = self
                .by_id
                .iter()
                .min_by_key(|(_, s)| s.last_ms)
                .map(|(k, _)| *k)
            {
                self.by_id.remove(&oldest);
            }
        }
        let id = SessionId(hex::encode(&random[..32]));
        let csrf = hex::encode(&random[32..]);
        self.by_id.insert(
            slot(&id),
            Session {
                who,
                csrf: csrf.clone(),
                started_ms: now_ms,
                last_ms: now_ms,
            },
        );
        (id, csrf)
    }

    /// The live session `id` names, its idle time reset; `None` for an unknown or
    /// ended one (which is then forgotten).
    pub fn touch(&mut self, id: &SessionId, now_ms: u64) -> Option<&Session> {
        let k = slot(id);
        let live = self.by_id.get(&k).is_some_and(|s| alive(s, now_ms));
        if !live {
            self.by_id.remove(&k);
            return None;
        }
        let s = self.by_id.get_mut(&k)?;
        s.last_ms = now_ms;
        Some(s)
    }

    /// Whether `token` is the CSRF token of the live session `id`, compared in
    /// constant time.
    pub fn check_csrf(&mut self, id: &SessionId, token: &str, now_ms: u64) -> bool {
        match self.touch(id, now_ms) {
            Some(s) => blake3::hash(s.csrf.as_bytes()) == blake3::hash(token.as_bytes()),
            None => false,
        }
    }

    /// Signs out.
    pub fn end(&mut self, id: &SessionId) {
        self.by_id.remove(&slot(id));
    }

    /// Ends every session of `member` (revoked, or a new password).
    pub fn end_member(&mut self, member: &PublicKey) {
        self.by_id
            .retain(|_, s| s.who.member().as_ref() != Some(member));
    }

    /// Whether `member` has a live session (an import in the background goes on only
    /// while it does).
    pub fn has_member(&self, member: &PublicKey, now_ms: u64) -> bool {
        self.by_id
            .values()
            .any(|s| s.who.member().as_ref() == Some(member) && alive(s, now_ms))
    }

    /// Forgets the sessions that have ended.
    pub fn sweep(&mut self, now_ms: u64) {
        self.by_id.retain(|_, s| alive(s, now_ms));
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

fn alive(s: &Session, now_ms: u64) -> bool {
    now_ms.saturating_sub(s.last_ms) < IDLE_MS && now_ms.saturating_sub(s.started_ms) < ABSOLUTE_MS
}

/// Sign-in attempts, limited per handle and per client address (docs/web.md): 5
/// failures free, then a wait after each further one that starts at a minute and
/// doubles, up to an hour. A success, or a day without failures, clears the count.
#[derive(Default)]
pub struct SignInLimiter {
    failures: HashMap<String, Failures>,
}

struct Failures {
    count: u32,
    last_ms: u64,
}

/// Failures before the first wait.
pub const FREE_FAILURES: u32 = 5;
const MINUTE_MS: u64 = 60_000;
const MAX_WAIT_MS: u64 = 60 * MINUTE_MS;
const FORGET_MS: u64 = 24 * 60 * MINUTE_MS;
/// Names tracked at most, so that made-up handles cannot fill memory.
const MAX_TRACKED: usize = 100_000;

impl SignInLimiter {
    /// How long `name` must still wait before its next attempt, if at all.
    pub fn wait_ms(&self, name: &str, now_ms: u64) -> Option<u64> {
        let f = self.failures.get(name)?;
        if now_ms.saturating_sub(f.last_ms) >= FORGET_MS || f.count < FREE_FAILURES {
            return None;
        }
        let doublings = (f.count - FREE_FAILURES).min(6);
        let wait = (MINUTE_MS << doublings).min(MAX_WAIT_MS);
        let until = f.last_ms.saturating_add(wait);
        (until > now_ms).then(|| until - now_ms)
    }

    pub fn failed(&mut self, name: &str, now_ms: u64) {
        if self.failures.len() >= MAX_TRACKED && !self.failures.contains_key(name) {
            self.failures
                .retain(|_, f| now_ms.saturating_sub(f.last_ms) < FORGET_MS);
            if self.failures.len() >= MAX_TRACKED {
                return;
            }
        }
        let f = self.failures.entry(name.to_owned()).or_insert(Failures {
            count: 0,
            last_ms: now_ms,
        });
        if now_ms.saturating_sub(f.last_ms) >= FORGET_MS {
            f.count = 0;
        }
        f.count = f.count.saturating_add(1);
        f.last_ms = now_ms;
    }

    pub fn succeeded(&mut self, name: &str) {
        self.failures.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 64 bytes that differ from each other and from another `n`'s.
    fn rnd(n: u8) -> [u8; 64] {
        std::array::from_fn(|i| (i as u8).wrapping_mul(7).wrapping_add(n))
    }

    fn member(seed: u8) -> Who {
        Who::Member {
            key: Box::new(SecretKey::from_seed([seed; 32])),
            handle: format!("m{seed}"),
        }
    }

    #[test]
    fn a_session_lives_until_idle_or_too_old_or_signed_out() {
        let mut s = Sessions::default();
        let (id, _) = s.start(member(1), 0, rnd(1));
        assert!(s.touch(&id, IDLE_MS - 1).is_some());
        // Busy, but past its absolute lifetime.
        let mut t = IDLE_MS - 1;
        while t + IDLE_MS / 2 < ABSOLUTE_MS {
            t += IDLE_MS / 2;
            assert!(s.touch(&id, t).is_some(), "{t}");
        }
        assert!(s.touch(&id, ABSOLUTE_MS).is_none());
        assert!(s.is_empty());

        let (id, _) = s.start(member(1), 0, rnd(2));
        assert!(s.touch(&id, IDLE_MS).is_none(), "idle");
        let (id, _) = s.start(member(1), 0, rnd(3));
        s.end(&id);
        assert!(s.touch(&id, 1).is_none(), "signed out");
        assert!(s.touch(&SessionId("00".repeat(32)), 1).is_none(), "made up");
    }

    #[test]
    fn csrf_token_is_the_sessions_own() {
        let mut s = Sessions::default();
        let (a, csrf_a) = s.start(member(1), 0, rnd(1));
        let (b, csrf_b) = s.start(member(2), 0, rnd(2));
        assert!(s.check_csrf(&a, &csrf_a, 1));
        assert!(!s.check_csrf(&a, &csrf_b, 1), "another session's token");
        assert!(!s.check_csrf(&a, "", 1));
        assert!(s.check_csrf(&b, &csrf_b, 1));
        assert_ne!(a.0, csrf_a, "the id and the token are different secrets");
    }

    #[test]
    fn revoking_a_member_ends_only_its_sessions() {
        let mut s = Sessions::default();
        let (a1, _) = s.start(member(1), 0, rnd(1));
        let (a2, _) = s.start(member(1), 0, rnd(2));
        let (b, _) = s.start(member(2), 0, rnd(3));
        let (op, _) = s.start(Who::Operator, 0, rnd(4));
        s.end_member(&SecretKey::from_seed([1; 32]).public());
        assert!(s.touch(&a1, 1).is_none() && s.touch(&a2, 1).is_none());
        assert!(s.touch(&b, 1).is_some() && s.touch(&op, 1).is_some());
    }

    #[test]
    fn sign_ins_cannot_fill_memory() {
        let mut s = Sessions::default();
        let mut first = None;
        for i in 0..=MAX_SESSIONS as u64 {
            let mut r = [0u8; 64];
            r[..8].copy_from_slice(&i.to_le_bytes());
            let (id, _) = s.start(Who::Operator, i, r);
            first.get_or_insert(id);
        }
        assert_eq!(s.len(), MAX_SESSIONS);
        assert!(s.touch(&first.unwrap(), MAX_SESSIONS as u64).is_none());
    }

    #[test]
    fn five_failures_a_minute_then_waits_that_double() {
        let mut l = SignInLimiter::default();
        for t in 0..u64::from(FREE_FAILURES) {
            assert_eq!(l.wait_ms("alice", t), None);
            l.failed("alice", t);
        }
        let waited = l.wait_ms("alice", 10).unwrap();
        assert!(waited > 50_000 && waited <= MINUTE_MS, "{waited}");
        assert_eq!(l.wait_ms("bob", 10), None, "per name");
        // After the wait, one more failure doubles it.
        let t = 70_000;
        assert_eq!(l.wait_ms("alice", t), None);
        l.failed("alice", t);
        assert_eq!(l.wait_ms("alice", t), Some(2 * MINUTE_MS));
        l.failed("alice", t + 2 * MINUTE_MS);
        assert_eq!(l.wait_ms("alice", t + 2 * MINUTE_MS), Some(4 * MINUTE_MS));
        l.succeeded("alice");
        assert_eq!(l.wait_ms("alice", t + 2 * MINUTE_MS), None);
    }
}
