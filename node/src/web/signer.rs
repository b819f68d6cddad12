//! Signing for a signed-in member (docs/web.md, "Signing for members"): the node
//! signs with the key the member's password opened, on top of the chain's head as
//! its own ledger holds it, inside the event loop, so nothing can come between
//! reading the head and ordering the event.

use crate::engine::Engine;
use crate::handle::IngestError;
use carnet_protocol::author::{Author, AuthorHead};
use carnet_protocol::{Payload, SecretKey, SignedEvent};

impl Engine {
    /// Signs `payload` as the next event of `key`'s chain. Refused while one of the
    /// member's events waits for its past: its head is unknown, and signing beside it
    /// would be an equivocation. A CLI event at the same position arriving later is
    /// refused by [`Engine::check_position`].
    pub fn sign_as_member(
        &mut self,
        key: &SecretKey,
        payload: Payload,
        now_ms: u64,
    ) -> Result<SignedEvent, IngestError> {
        let author = key.public();
        if self.ledger.has_pending_of(&author) {
            return Err(IngestError::ChainPending);
        }
        let head = match self.ledger.chain_head(&author) {
            None => None,
            Some((seq, id)) => {
                let ev = self
                    .ledger
                    .fetch(&id)
                    .map_err(|e| IngestError::Storage(e.to_string()))?
                    .ok_or(IngestError::ChainPending)?;
                Some(AuthorHead {
                    seq,
                    id,
                    lamport: ev.lamport(),
                    timestamp_ms: ev.body().timestamp_ms,
                })
            }
        };
        // A member's first event names the Enroll that introduces its key.
        let introduction = match head {
            None => self.ledger.introduction(&author),
            Some(_) => None,
        };
        Author::resume(key.clone(), self.network, head)
            .introduced_by(introduction)
            .sign(payload, Vec::new(), self.ledger.max_lamport(), now_ms)
            .map_err(IngestError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use crate::handle::IngestError;
    use crate::test_support::{card, contribution, enroll, one_org_engine};
    use carnet_api::Submitted;
    use carnet_protocol::payload::{EmployeeRange, Payload, RevenueRange, Vote};

    fn vote(domain: &str) -> Payload {
        Payload::Vote(Vote {
            company_domain: domain.into(),
            employees: EmployeeRange::From11To50,
            revenue: RevenueRange::Under1M,
        })
    }

    fn ordered(r: &Result<crate::engine::Ingested, IngestError>) -> bool {
        matches!(r, Ok(i) if matches!(i.result, Submitted::Ordered { .. }))
    }

    /// The CLI signed at a position (its event journalled, not yet sent), then the
    /// web app signed there first: the CLI's event is refused when it comes, and the
    /// member is not excluded for an equivocation.
    #[test]
    fn an_event_at_a_position_the_web_app_took_is_refused_not_ordered() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, _, _) = one_org_engine(dir.path());
        let (key, mut cli) = enroll(&mut e, 7);
        let late = cli
            .sign(vote("a.example"), vec![], e.ledger().max_lamport(), 5)
            .unwrap();

        let web = e.sign_as_member(&key, vote("b.example"), 6).unwrap();
        assert_eq!(web.seq(), late.seq());
        assert!(ordered(&e.ingest_event(web.clone())));

        let r = e
            .ingest_submitted(&[late.as_bytes().to_vec()])
            .pop()
            .unwrap();
        match r {
            Err(IngestError::ChainMoved { seq, held }) => {
                assert_eq!((seq, held), (0, web.id()));
            }
            other => panic!("expected chain_moved, got {other:?}"),
        }
        assert!(e.ledger().fetch(&late.id()).unwrap().is_none());
        assert!(e.ledger().equivocation(&key.public()).is_none());
        assert_eq!(e.balance(&key.public()).unwrap().status, "Active");
        // The same event again is a duplicate, not a conflict.
        let again = e
            .ingest_submitted(&[web.as_bytes().to_vec()])
            .pop()
            .unwrap();
        assert!(matches!(again, Ok(i) if !i.new));
    }

    /// The other way round: the CLI's event is in; the web app signs after it.
    #[test]
    fn the_web_app_signs_on_top_of_what_the_cli_sent() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, _, _) = one_org_engine(dir.path());
        let (key, mut cli) = enroll(&mut e, 7);
        let first = contribution(&mut e, &mut cli, &card("x@acme.example"));
        assert!(ordered(
            &e.contribute(first.as_bytes(), card("x@acme.example"))
        ));
        let web = e.sign_as_member(&key, vote("b.example"), 6).unwrap();
        assert_eq!((web.seq(), web.body().prev), (1, Some(first.id())));
        assert!(ordered(&e.ingest_event(web)));
    }

    /// Two copies of a key file sending one position in one batch: the first is
    /// taken. A contribution at a taken position is refused the same way.
    #[test]
    fn two_submissions_at_one_position_take_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, _, _) = one_org_engine(dir.path());
        let (_, cli) = enroll(&mut e, 7);
        let clock = e.ledger().max_lamport();
        let a = cli
            .clone()
            .sign(vote("a.example"), vec![], clock, 5)
            .unwrap();
        let b = cli
            .clone()
            .sign(vote("b.example"), vec![], clock, 5)
            .unwrap();
        let mut r = e.ingest_submitted(&[a.as_bytes().to_vec(), b.as_bytes().to_vec()]);
        assert!(matches!(
            r.pop(),
            Some(Err(IngestError::ChainMoved { seq: 0, .. }))
        ));
        assert!(ordered(&r.pop().unwrap()));

        let c = contribution(&mut e, &mut cli.clone(), &card("y@acme.example"));
        assert_eq!(c.seq(), 0);
        let r = e.contribute(c.as_bytes(), card("y@acme.example"));
        assert!(
            matches!(r, Err(IngestError::ChainMoved { seq: 0, .. })),
            "{r:?}"
        );
        assert!(e.ledger().fetch(&c.id()).unwrap().is_none());
    }

    /// While one of the member's events waits for its past, the web app signs
    /// nothing: it does not know the head.
    #[test]
    fn nothing_is_signed_while_the_members_event_is_pending() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, _, _) = one_org_engine(dir.path());
        let (key, mut cli) = enroll(&mut e, 7);
        let clock = e.ledger().max_lamport();
        let _lost = cli.sign(vote("a.example"), vec![], clock, 5).unwrap();
        let waiting = cli.sign(vote("b.example"), vec![], clock, 6).unwrap();
        let r = e.ingest_event(waiting).unwrap();
        assert!(
            matches!(r.result, Submitted::Pending { .. }),
            "{:?}",
            r.result
        );
        let refused = e.sign_as_member(&key, vote("c.example"), 7);
        assert!(
            matches!(refused, Err(IngestError::ChainPending)),
            "{refused:?}"
        );
    }
}
