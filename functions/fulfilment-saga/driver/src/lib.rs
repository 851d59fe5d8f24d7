//! Drives the fulfilment saga end to end, for `run.sh` and for the integration test.
//!
//! 1. [`Shop::wait_until_deployed`], then [`Shop::open`]: the mail stream, and the warehouse
//!    stocked from the [`catalogue`];
//! 2. [`Shop::place`]: the orders, some re-sent with the same message id (the stream drops
//!    them) and some re-submitted under a new one (the inventory ignores them);
//! 3. [`Shop::wait_until_ended`]: every order e-mailed, those whose payment was
//!    dead-lettered too (their payment timeout cancels them);
//! 4. replay the dead-lettered payments (late answers: a charge is refunded, a decline
//!    changes nothing), then [`Shop::wait_until_idle`];
//! 5. [`duplicates::send_copies`] of the saga's own events, then [`Shop::wait_until_idle`];
//! 6. [`observe::observe`] the streams, the stock, the refunds and the pending timeouts, and
//!    judge them: [`report::Report`] (outcomes, e-mails, stock table, [`charges`],
//!    invariants), [`timing::Timing`] and [`trace::trace`] (one order, by its correlation id).

pub mod catalogue;
pub mod charges;
pub mod duplicates;
pub mod observe;
pub mod report;
pub mod shop;
pub mod timing;
pub mod trace;

pub use charges::Charges;
pub use observe::{Observation, Seen, observe};
pub use report::{Outcome, Report};
pub use shop::{Placed, Progress, Shop};
pub use timing::Timing;
