//! The one rule for an event time a sender claims: a time further ahead of when Pulse received
//! the event than a tolerance is not believed. Client clocks drift and payloads lie; one event
//! stamped in year 9999 would otherwise move event time (and every timer keyed on it) for
//! everyone who shares its partition. Times in the past stay as sent: history is legitimate.

use time::{Duration, OffsetDateTime};

/// How far ahead of its receive time an event time may be before it is replaced (Segment's
/// and PostHog's SDKs correct skew with `sentAt`, so honest clients stay well inside this).
pub const DEFAULT_FUTURE_TOLERANCE: Duration = Duration::minutes(10);

/// An event time after the future rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTime {
    /// The time the event is processed under.
    pub at: OffsetDateTime,
    /// The claimed time when it was replaced by the receive time.
    pub clamped_from: Option<OffsetDateTime>,
}

/// Takes `claimed` unless it lies more than `tolerance` after `received_at`; then the event
/// happened, as far as Pulse can know, when it arrived.
pub fn clamp_future(
    claimed: OffsetDateTime,
    received_at: OffsetDateTime,
    tolerance: Duration,
) -> EventTime {
    if claimed - received_at > tolerance {
        EventTime {
            at: received_at,
            clamped_from: Some(claimed),
        }
    } else {
        EventTime {
            at: claimed,
            clamped_from: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_time_far_ahead_of_arrival_becomes_the_arrival_time_and_the_claim_is_kept() {
        let received = datetime!(2026-12-03 10:00 UTC);
        let t = clamp_future(
            datetime!(9999-12-31 0:00 UTC),
            received,
            DEFAULT_FUTURE_TOLERANCE,
        );
        assert_eq!(t.at, received);
        assert_eq!(t.clamped_from, Some(datetime!(9999-12-31 0:00 UTC)));
    }

    #[test]
    fn times_within_the_tolerance_and_times_in_the_past_stay_as_sent() {
        let received = datetime!(2026-12-03 10:00 UTC);
        for claimed in [
            datetime!(2026-12-03 10:10 UTC),
            datetime!(2026-12-03 9:00 UTC),
            datetime!(1999-01-01 0:00 UTC),
        ] {
            let t = clamp_future(claimed, received, DEFAULT_FUTURE_TOLERANCE);
            assert_eq!((t.at, t.clamped_from), (claimed, None));
        }
        let just_over = datetime!(2026-12-03 10:10:00.001 UTC);
        assert_eq!(
            clamp_future(just_over, received, DEFAULT_FUTURE_TOLERANCE).at,
            received
        );
    }
}
