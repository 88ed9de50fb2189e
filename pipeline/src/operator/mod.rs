//! Operators of the customer model, as plain state machines without I/O so each is unit-tested
//! on its own and checkpointed by serialising it: cleaning, dedupe, sessions.

pub mod clean;
pub mod dedupe;
pub mod session;

pub use dedupe::{Dedupe, Seen};
pub use session::{Session, SessionChange, Sessionizer};
