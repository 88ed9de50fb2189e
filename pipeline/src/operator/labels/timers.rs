//! Event-pattern deadlines fired as the watermark passes them: windows slide, absences and
//! recencies come due, unfinished sequences start over.

use super::{fmt_time, LabelChange, Labels};
use crate::time::EventTimeMs;
use domain::labels::LabelRule;

impl Labels {
    /// Fires every timer at or before the watermark. An absence or sequence is decided only
    /// once its deadline is `lateness_ms` behind the watermark, so an event that arrives late
    /// but within the allowed lateness still counts; a timer that comes due before that (an
    /// older schedule, a window edited since) is moved to the deadline the rule has now.
    pub fn advance(&mut self, watermark: EventTimeMs, lateness_ms: i64) -> Vec<LabelChange> {
        let version = self.version;
        let mut out = Vec::new();
        while let Some((at, profile, label)) = self.timers.first().cloned() {
            if at > watermark {
                break;
            }
            self.timers.pop_first();
            let Some(def) = self.defs.iter().find(|d| d.name == label) else {
                continue;
            };
            let Some(state) = self
                .states
                .get_mut(&profile)
                .and_then(|m| m.get_mut(&label))
            else {
                continue;
            };
            let change = |set: bool, reason: String| {
                LabelChange::of(def, version, &profile, set, at, reason)
            };
            // Absences and sequences are decided once their deadline is `lateness_ms` behind
            // the watermark; a timer due sooner (an older schedule, a window edited since)
            // waits for that.
            if let (
                LabelRule::Absence { within_ms, .. } | LabelRule::Sequence { within_ms, .. },
                Some(p),
            ) = (&def.rule, state.pending)
            {
                let decided_at = p + within_ms + lateness_ms;
                if at < decided_at {
                    self.timers
                        .insert((decided_at, profile.clone(), label.clone()));
                    continue;
                }
            }
            match &def.rule {
                LabelRule::Count {
                    matching,
                    count,
                    window_ms,
                } => {
                    while state.times.front().is_some_and(|x| *x <= at - window_ms) {
                        state.times.pop_front();
                    }
                    if let Some(oldest) = state.times.front() {
                        self.timers
                            .insert((oldest + window_ms, profile.clone(), label.clone()));
                    }
                    if state.set && state.times.len() < *count as usize {
                        state.set = false;
                        out.push(change(
                            false,
                            format!(
                                "fewer than {count} {} within {}",
                                matching.describe(),
                                domain::labels::duration(*window_ms)
                            ),
                        ));
                    }
                }
                LabelRule::Absence {
                    first,
                    then_not,
                    within_ms,
                } => {
                    // Without a wait (the second event came in time) there is nothing to
                    // decide; the state is dropped below once idle.
                    if let Some(p) = state.pending.take() {
                        let deadline = p + within_ms;
                        // Merged into a profile that already carries it: no second set, no
                        // second trigger.
                        if !state.set {
                            state.set = true;
                            let reason = format!(
                                "{} at {}; no {} by {}",
                                first.describe(),
                                fmt_time(p),
                                then_not.describe(),
                                fmt_time(deadline)
                            );
                            out.push(LabelChange::of(
                                def, version, &profile, true, deadline, reason,
                            ));
                        }
                    }
                }
                LabelRule::Sequence { .. } => {
                    // The first event's window passed without the second: start over.
                    state.pending = None;
                }
                LabelRule::Threshold { .. } => {}
                LabelRule::Recency {
                    matching,
                    within_ms,
                } => {
                    if state.set && state.last.is_some_and(|l| l + within_ms <= at) {
                        state.set = false;
                        out.push(change(
                            false,
                            format!(
                                "no {} for {}",
                                matching.describe(),
                                domain::labels::duration(*within_ms)
                            ),
                        ));
                    }
                }
            }
            let idle = !state.set && state.pending.is_none() && state.times.is_empty();
            if idle {
                if let Some(m) = self.states.get_mut(&profile) {
                    m.remove(&label);
                    if m.is_empty() {
                        self.states.remove(&profile);
                    }
                }
            }
        }
        out
    }
}
