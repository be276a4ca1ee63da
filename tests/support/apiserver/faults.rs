//! Injected failures: a request kind answers with a status code a number of times, then
//! normally again.

use super::State;
use super::router::Target;
use super::status::{Reply, injected};

/// An injected failure: answer with `status` for the next `times` requests (`usize::MAX`: always).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub status: u16,
    pub times: usize,
}

impl Fault {
    pub fn times(status: u16, times: usize) -> Fault {
        Fault { status, times }
    }

    pub fn always(status: u16) -> Fault {
        Fault {
            status,
            times: usize::MAX,
        }
    }
}

/// The answer of an injected fault for this request, if one fires (and counts it).
pub fn fire(state: &mut State, t: &Target) -> Option<Reply> {
    let fault = state.config.faults.get_mut(t.kind)?;
    if fault.times == 0 {
        state.config.faults.remove(t.kind);
        return None;
    }
    if fault.times != usize::MAX {
        fault.times -= 1;
    }
    let code = fault.status;
    Some(injected(code, &state.config.user, t))
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
