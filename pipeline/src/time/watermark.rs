//! A bounded-out-of-orderness watermark: event time minus the allowed disorder.

/// Milliseconds since the Unix epoch, in event time.
pub type EventTimeMs = i64;

/// Tracks the watermark of one input: the time before which no more events are expected.
///
/// The watermark is the highest event time seen minus `max_disorder_ms`; it never goes back.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Watermark {
    max_disorder_ms: i64,
    allowed_lateness_ms: i64,
    max_seen: Option<EventTimeMs>,
}

/// How an event relates to the current watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lateness {
    /// At or after the watermark: processed normally.
    OnTime,
    /// Behind the watermark but within the allowed lateness: results are corrected.
    Late,
    /// Beyond the allowed lateness: counted and reported, not applied to windows.
    TooLate,
}

impl Watermark {
    /// A watermark allowing `max_disorder_ms` of disorder and `allowed_lateness_ms` of lateness.
    pub fn new(max_disorder_ms: i64, allowed_lateness_ms: i64) -> Self {
        Self {
            max_disorder_ms: max_disorder_ms.max(0),
            allowed_lateness_ms: allowed_lateness_ms.max(0),
            max_seen: None,
        }
    }

    /// Observes an event time and classifies the event against the watermark before it.
    pub fn observe(&mut self, event_time: EventTimeMs) -> Lateness {
        let verdict = match self.current() {
            Some(wm) if event_time < wm - self.allowed_lateness_ms => Lateness::TooLate,
            Some(wm) if event_time < wm => Lateness::Late,
            _ => Lateness::OnTime,
        };
        self.max_seen = Some(self.max_seen.map_or(event_time, |m| m.max(event_time)));
        verdict
    }

    /// Moves the watermark to at least `to` without an event: an idle input still lets
    /// event-time timers fire (the caller passes wall-clock time minus the disorder it allows).
    pub fn advance_to(&mut self, to: EventTimeMs) {
        let seen = to + self.max_disorder_ms;
        self.max_seen = Some(self.max_seen.map_or(seen, |m| m.max(seen)));
    }

    /// The allowed lateness behind the watermark.
    pub fn allowed_lateness_ms(&self) -> i64 {
        self.allowed_lateness_ms
    }

    /// The current watermark, once any event was seen.
    pub fn current(&self) -> Option<EventTimeMs> {
        self.max_seen.map(|m| m - self.max_disorder_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_trails_the_newest_event_by_the_allowed_disorder_and_never_regresses() {
        let mut wm = Watermark::new(1_000, 0);
        assert_eq!(wm.current(), None);
        wm.observe(10_000);
        assert_eq!(wm.current(), Some(9_000));
        wm.observe(5_000);
        assert_eq!(wm.current(), Some(9_000));
        wm.observe(12_000);
        assert_eq!(wm.current(), Some(11_000));
    }

    #[test]
    fn events_are_classified_on_time_late_or_too_late() {
        let mut wm = Watermark::new(1_000, 5_000);
        assert_eq!(wm.observe(100_000), Lateness::OnTime);
        assert_eq!(
            wm.observe(99_500),
            Lateness::OnTime,
            "within the disorder bound"
        );
        assert_eq!(
            wm.observe(95_000),
            Lateness::Late,
            "behind the watermark, within lateness"
        );
        assert_eq!(
            wm.observe(93_999),
            Lateness::TooLate,
            "beyond the allowed lateness"
        );
    }
}
