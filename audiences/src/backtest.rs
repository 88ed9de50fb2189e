//! Backtests: a label definition replayed over recent events on the bus with the pipeline's own
//! engine; nothing is written. Bounded so one page cannot starve the server: at most one per
//! workspace at a time (across server processes), a cap on events and a time limit.

use crate::{AudienceError, Member};
use domain::labels::{Backtest, LabelDefinition, LabelRule};
use domain::phone::PhoneCountries;
use domain::{Area, Need};
use pipeline::{Effect, Emitted, Engine, EngineConfig};
use sqlx::{PgPool, Postgres, Transaction};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

/// How far a backtest may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Events replayed at most; the result says when it stopped there.
    pub max_events: u64,
    /// Wall-clock time the replay may take before it is stopped.
    pub time_limit: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_events: 2_000_000,
            time_limit: Duration::from_secs(120),
        }
    }
}

/// The event-time range replayed, in ms since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub since_ms: i64,
    pub until_ms: i64,
}

impl Window {
    /// The `days` before `now_ms`.
    pub fn last_days(now_ms: i64, days: i64) -> Self {
        Window {
            since_ms: now_ms - days * 86_400_000,
            until_ms: now_ms,
        }
    }
}

/// First key of the advisory locks that mark a running backtest (the second is the workspace);
/// the two-key lock space does not overlap the bus's one-key locks.
const LOCK_CLASS: i32 = 0x4254_5354; // "BTST"

/// A workspace's backtest slot, held while this lives: a transaction on a pooled connection
/// holding a transaction-level advisory lock, so it is released even when the caller's future
/// is dropped (the transaction rolls back when its connection goes back to the pool).
pub struct Running {
    tx: Transaction<'static, Postgres>,
}

impl Running {
    /// Frees the slot now.
    pub async fn finish(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

/// Takes the workspace's backtest slot, or refuses when another backtest holds it.
pub async fn begin(pool: &PgPool, workspace_id: Uuid) -> Result<Running, AudienceError> {
    let mut tx = pool.begin().await?;
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, hashtext($2))")
        .bind(LOCK_CLASS)
        .bind(workspace_id.to_string())
        .fetch_one(&mut *tx)
        .await?;
    if got {
        Ok(Running { tx })
    } else {
        Err(AudienceError::BacktestRunning)
    }
}

/// Replays `def` over the window's events of the member's workspace, within `limits`.
pub async fn run(
    pool: &PgPool,
    bus: &dyn bus::Bus,
    member: &Member,
    def: LabelDefinition,
    window: Window,
    limits: Limits,
) -> Result<Backtest, AudienceError> {
    member.role.authorize(Area::Labels, Need::Change)?;
    let errors = def.validate();
    if !errors.is_empty() {
        return Err(AudienceError::Invalid(errors));
    }
    let mut running = begin(pool, member.workspace_id).await?;
    // Events are decoded as the live pipeline decodes them: national phones in the workspace's
    // calling code.
    let country = crm::settings::phone_country(&mut running.tx, member.workspace_id).await?;
    let phone_countries: PhoneCountries = [(member.workspace_id.into(), country)]
        .into_iter()
        .collect();
    let workspace = member.workspace_id.to_string();
    let outcome = tokio::time::timeout(
        limits.time_limit,
        replay(
            bus,
            &workspace,
            &phone_countries,
            def,
            window,
            limits.max_events,
        ),
    )
    .await;
    running.finish().await?;
    match outcome {
        Ok(result) => Ok(result?),
        Err(_) => Err(AudienceError::BacktestTimedOut(limits.time_limit)),
    }
}

/// Counts a backtest's effects in `workspace`: profiles with events, and profiles a label was
/// set on.
fn tally(
    effects: Vec<Emitted>,
    workspace: &str,
    profiles: &mut HashSet<String>,
    ever: &mut HashSet<String>,
) {
    for e in effects.iter().filter(|e| e.workspace == workspace) {
        match &e.effect {
            Effect::Event { profile, .. } => {
                profiles.insert(profile.clone());
            }
            Effect::Label(c) if c.set => {
                ever.insert(c.profile.clone());
            }
            _ => {}
        }
    }
}

async fn replay(
    bus: &dyn bus::Bus,
    workspace: &str,
    phone_countries: &PhoneCountries,
    def: LabelDefinition,
    window: Window,
    max: u64,
) -> Result<Backtest, bus::BusError> {
    let topic = domain::events::EVENTS_TOPIC;
    let group = format!("backtest-{}", Uuid::new_v4().simple());
    bus.reset_group(&group, topic, bus::ResetTo::Timestamp(window.since_ms))
        .await?;
    let mut consumer = bus.subscribe(&group, topic).await?;
    // events.raw is keyed by workspace: only this workspace's partition holds its events.
    let own = bus::partition_for(workspace, bus.partitions(topic).await?);
    let mut engine = Engine::new(EngineConfig::default());
    engine.set_labels(workspace, vec![def.clone()]);
    let (mut events, mut truncated) = (0u64, false);
    let mut ever = HashSet::new();
    let mut profiles = HashSet::new();
    // A threshold on a CRM field needs the CRM: the workspace's changes up to the window's end
    // go in first (they join profiles by identifier and set the `crm.*` fields).
    if matches!(&def.rule, LabelRule::Threshold { field, .. } if field.starts_with("crm.")) {
        let mut crm = bus.read(cdc::TOPIC, &Default::default()).await?;
        // A new Kafka reader connects before its first fetch.
        let mut wait = 2_000;
        loop {
            let batch = crm.poll(5_000, Duration::from_millis(wait)).await?;
            if batch.is_empty() {
                break;
            }
            wait = 300;
            for m in batch {
                let Ok(change) = pipeline::input::crm::decode(&m.value) else {
                    continue;
                };
                let mine = change.workspace.is_some_and(|w| w.to_string() == workspace);
                if !mine || m.timestamp_ms > window.until_ms {
                    continue;
                }
                let effects = engine.process_crm(m.partition, m.offset, Ok(change));
                tally(effects, workspace, &mut profiles, &mut ever);
            }
        }
    }
    'read: loop {
        let batch = consumer.poll(5_000, Duration::from_millis(300)).await?;
        if batch.is_empty() {
            break;
        }
        for m in batch.into_iter().filter(|m| m.partition == own) {
            if m.timestamp_ms > window.until_ms {
                break 'read;
            }
            // The group starts at the first record stamped inside the window; records after it
            // can still be older (late or imported history), and they are not in the window.
            if m.timestamp_ms < window.since_ms {
                continue;
            }
            events += 1;
            let event = pipeline::input::segment::decode(&m.value, phone_countries);
            let effects = engine.process(m.partition, m.offset, event);
            tally(effects, workspace, &mut profiles, &mut ever);
            if events >= max {
                truncated = true;
                break 'read;
            }
        }
    }
    tally(
        engine.advance_to(window.until_ms),
        workspace,
        &mut profiles,
        &mut ever,
    );
    let carrying_now = engine
        .label_counts()
        .get(workspace)
        .and_then(|c| c.get(&def.name))
        .copied()
        .unwrap_or(0) as u64;
    Ok(Backtest {
        events,
        profiles: profiles.len() as u64,
        ever_set: ever.len() as u64,
        carrying_now,
        truncated,
    })
}
