use domain::{FieldErrors, Refused};
use std::time::Duration;

/// What went wrong in an audience service, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum AudienceError {
    /// The member's role may not read or change this area (the message names who may).
    #[error(transparent)]
    Refused(#[from] Refused),
    /// A row-level rule refused: the area is allowed but not this record for this member.
    #[error("{0}")]
    NotYours(&'static str),
    /// The definition failed validation; messages per field.
    #[error("invalid label: {0}")]
    Invalid(FieldErrors),
    /// Nothing by that name or id in the member's workspace.
    #[error("{0}")]
    NotFound(&'static str),
    /// Backtests are bounded to one at a time per workspace.
    #[error(
        "A backtest is already running for this workspace. Wait for it to finish and try again."
    )]
    BacktestRunning,
    /// The backtest ran past its time limit and was stopped.
    #[error("The backtest took longer than {} and was stopped. Narrow the rule or try again later.", limit_text(*.0))]
    BacktestTimedOut(Duration),
    /// The bus could not be read.
    #[error("the backtest could not read the events: {0}")]
    Bus(#[from] bus::BusError),
    /// The CRM refused or failed while matching an alert to a customer.
    #[error(transparent)]
    Crm(#[from] crm::CrmError),
    /// Postgres failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// A time limit as people read it ("2 minutes", "90 seconds", "50 ms").
fn limit_text(limit: Duration) -> String {
    let secs = limit.as_secs();
    match secs {
        0 => format!("{} ms", limit.as_millis()),
        1 => "1 second".into(),
        s if s % 60 == 0 && s >= 120 => format!("{} minutes", s / 60),
        60 => "1 minute".into(),
        s => format!("{s} seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limits_read_the_way_people_say_them() {
        assert_eq!(limit_text(Duration::from_millis(50)), "50 ms");
        assert_eq!(limit_text(Duration::from_secs(1)), "1 second");
        assert_eq!(limit_text(Duration::from_secs(60)), "1 minute");
        assert_eq!(limit_text(Duration::from_secs(90)), "90 seconds");
        assert_eq!(limit_text(Duration::from_secs(120)), "2 minutes");
    }
}
