//! Event time: watermarks and lateness.

mod watermark;

pub use watermark::{Lateness, Watermark};
