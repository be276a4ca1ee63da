//! Injected failures: a request kind answers with a status code a number of times (with a
//! `Retry-After` if asked), then normally again, or fails another way next.

use super::State;
use super::router::Target;
use super::status::{Reply, injected};

/// An injected failure: answer with `status` for the next `times` requests (`usize::MAX`: always).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub status: u16,
    pub times: usize,
    /// A `Retry-After` header of this many seconds on each answer.
    pub retry_after: Option<u64>,
    /// How requests fail once `times` ran out; `None`: they are answered normally.
    pub then: Option<Box<Fault>>,
}

impl Fault {
    pub fn times(status: u16, times: usize) -> Fault {
        Fault {
            status,
            times,
            retry_after: None,
            then: None,
        }
    }

    pub fn always(status: u16) -> Fault {
        Fault::times(status, usize::MAX)
    }

    /// Each answer says `Retry-After: seconds`.
    pub fn retry_after(self, seconds: u64) -> Fault {
        Fault {
            retry_after: Some(seconds),
            ..self
        }
    }

    /// Once this fault's `times` ran out, requests fail like `next`.
    pub fn then(self, next: Fault) -> Fault {
        Fault {
            then: Some(Box::new(next)),
            ..self
        }
    }
}

/// The answer of an injected fault for this request, if one fires (and counts it).
pub fn fire(state: &mut State, t: &Target) -> Option<Reply> {
    let fault = state.config.faults.get_mut(t.kind)?;
    while fault.times == 0 {
        let Some(next) = fault.then.take() else {
            state.config.faults.remove(t.kind);
            return None;
        };
        *fault = *next;
    }
    if fault.times != usize::MAX {
        fault.times -= 1;
    }
    let (code, retry_after) = (fault.status, fault.retry_after);
    let mut reply = injected(code, &state.config.user, t);
    if let Some(seconds) = retry_after {
        reply.headers.retain(|(name, _)| *name != "retry-after");
        reply.headers.push(("retry-after", seconds.to_string()));
    }
    Some(reply)
}

/// The answer if the caller may not do what `t` describes.
pub fn forbid(state: &State, t: &Target) -> Option<Reply> {
    let resource = if t.resource.is_empty() {
        t.path
    } else {
        t.resource
    };
    state
        .config
        .is_forbidden(resource, t.verb)
        .then(|| super::status::forbidden(&state.config.user, t))
}
