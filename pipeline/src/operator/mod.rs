//! Operators of the customer model, as plain state machines without I/O so each is unit-tested
//! on its own and checkpointed by serialising it: cleaning, dedupe, identity, sessions, labels, traits and rolling windows.

pub mod clean;
pub mod dedupe;
pub mod identity;
pub mod labels;
pub mod session;
pub mod traits;

pub use dedupe::{Dedupe, Seen};
pub use identity::{IdKind, Identifier, IdentityGraph, Merge, Resolution};
pub use labels::{LabelChange, Labels};
pub use session::{Session, SessionChange, Sessionizer};
pub use traits::{Traits, TraitsView};
