//! Drives the fulfilment saga end to end, for `run.sh` and for the integration test.
//!
//! 1. [`Shop::wait_until_deployed`], then [`Shop::open`]: the mail stream, and the warehouse
//!    stocked from the [`catalogue`];
//! 2. [`Shop::place`]: the orders, some re-sent with the same message id (the stream drops
//!    them) and some re-submitted under a new one (the inventory ignores them);
//! 3. [`Shop::wait_until_ended`]: every order e-mailed, or its payment dead-lettered; after a
//!    replay of the dead letters, wait again;
//! 4. [`duplicates::send_copies`] of the saga's own events, then [`Shop::wait_until_idle`];
//! 5. [`observe::observe`] the streams and the stock, and judge them: [`report::Report`]
//!    (outcomes, e-mails, stock table, invariants) and [`trace::trace`] (one order, by its
//!    correlation id).

pub mod catalogue;
pub mod duplicates;
pub mod observe;
pub mod report;
pub mod shop;
pub mod trace;

pub use observe::{Observation, Seen, observe};
pub use report::{Outcome, Report};
pub use shop::{Placed, Progress, Shop};
