//! Event time: watermarks and lateness.

mod watermark;

pub use watermark::{EventTimeMs, Lateness, Watermark};
