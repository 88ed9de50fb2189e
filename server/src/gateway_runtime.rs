//! The gateway's runtime state: write-key cache, per-source rate limits, per-source counters
//! (flushed to Postgres every few seconds), the live event feed of the debugger, and the
//! consumer that copies `events.quarantine` into the browsable quarantine table.

use domain::tracking::{DebugEvent, SourceCounts};
use gateway::sources::Source;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::broadcast;
use uuid::Uuid;

/// How long a write key's lookup is trusted: a rotated key or a changed plan takes effect on
/// every gateway within this time.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// What one gateway process keeps between requests.
pub struct EventGateway {
    limiter: SourceLimiter,
    keys: Mutex<HashMap<String, (Option<Source>, Instant)>>,
    counts: Mutex<HashMap<(Uuid, i64), SourceCounts>>,
    live: broadcast::Sender<(Uuid, DebugEvent)>,
    /// Data Router webhooks: one bucket per integration at its configured rate per minute.
    integration_limits: Mutex<HashMap<Uuid, (i32, Arc<governor::DefaultDirectRateLimiter>)>>,
    future_tolerance: time::Duration,
}

impl EventGateway {
    /// A gateway allowing `per_second` events per second per source.
    pub fn new(per_second: u32) -> Self {
        EventGateway {
            limiter: SourceLimiter::new(per_second),
            keys: Mutex::new(HashMap::new()),
            counts: Mutex::new(HashMap::new()),
            live: broadcast::channel(1024).0,
            integration_limits: Mutex::new(HashMap::new()),
            future_tolerance: domain::event_time::DEFAULT_FUTURE_TOLERANCE,
        }
    }

    /// The same gateway believing event times up to `tolerance` ahead of their arrival.
    pub fn with_future_tolerance(mut self, tolerance: Duration) -> Self {
        self.future_tolerance = time::Duration::try_from(tolerance).unwrap_or(time::Duration::MAX);
        self
    }

    /// How far ahead of its arrival an event time is believed.
    pub fn future_tolerance(&self) -> time::Duration {
        self.future_tolerance
    }

    /// The enabled source of a write key (cached for [`KEY_CACHE_TTL`], unknown keys too).
    pub async fn authenticate(
        &self,
        pool: &PgPool,
        key: &str,
    ) -> Result<Option<Source>, gateway::sources::SourceError> {
        if let Some((s, at)) = self.keys.lock().unwrap().get(key) {
            if at.elapsed() < KEY_CACHE_TTL {
                return Ok(s.clone());
            }
        }
        let found = gateway::sources::authenticate(pool, key).await?;
        let mut keys = self.keys.lock().unwrap();
        // Bounded: random keys from a misbehaving client must not grow memory without end.
        if keys.len() > 10_000 {
            keys.retain(|_, (_, at)| at.elapsed() < KEY_CACHE_TTL);
        }
        if keys.len() <= 10_000 {
            keys.insert(key.to_string(), (found.clone(), Instant::now()));
        }
        Ok(found)
    }

    /// Forgets cached keys (after a rotation in this process, so it applies at once here).
    pub fn forget_keys(&self) {
        self.keys.lock().unwrap().clear();
    }

    /// Takes one webhook request from the integration's per-minute limit, or says how long to
    /// wait. A changed rate replaces the bucket.
    pub fn check_integration_rate(
        &self,
        integration: Uuid,
        per_minute: i32,
    ) -> Result<(), Duration> {
        use governor::clock::Clock;
        let limiter = {
            let mut limits = self.integration_limits.lock().unwrap();
            let entry = limits
                .entry(integration)
                .or_insert_with(|| (0, Arc::new(direct(1))));
            if entry.0 != per_minute {
                *entry = (per_minute, Arc::new(direct(per_minute)));
            }
            entry.1.clone()
        };
        limiter.check().map_err(|not_until| {
            not_until.wait_time_from(governor::clock::DefaultClock::default().now())
        })
    }

    /// Takes `n` events from the source's rate limit, or says how long to wait.
    pub fn check_rate(&self, source: Uuid, n: usize) -> Result<(), Duration> {
        self.limiter.check(source, n)
    }

    /// Counts a request's outcome for the source's volume chart.
    pub fn count(&self, source: Uuid, add: SourceCounts) {
        let minute = OffsetDateTime::now_utc().unix_timestamp() / 60;
        *self
            .counts
            .lock()
            .unwrap()
            .entry((source, minute))
            .or_default() += add;
    }

    /// Whether anyone watches the live feed (so requests skip building debug events).
    pub fn watched(&self) -> bool {
        self.live.receiver_count() > 0
    }

    /// Publishes an event to the live debugger.
    pub fn publish(&self, source: Uuid, event: DebugEvent) {
        let _ = self.live.send((source, event));
    }

    /// A receiver of the live feed (all sources; the subscriber filters).
    pub fn subscribe(&self) -> broadcast::Receiver<(Uuid, DebugEvent)> {
        self.live.subscribe()
    }

    /// Writes the counts gathered since the last flush; on failure they are kept for the next.
    pub async fn flush_counts(&self, pool: &PgPool) {
        let taken: Vec<((Uuid, i64), SourceCounts)> = self.counts.lock().unwrap().drain().collect();
        if taken.is_empty() {
            return;
        }
        let rows: Vec<(Uuid, OffsetDateTime, SourceCounts)> = taken
            .iter()
            .map(|((s, m), c)| {
                (
                    *s,
                    OffsetDateTime::from_unix_timestamp(m * 60)
                        .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                    *c,
                )
            })
            .collect();
        if let Err(e) = gateway::sources::add_stats(pool, &rows).await {
            tracing::warn!(error = %e, "could not store source counters; keeping them");
            let mut counts = self.counts.lock().unwrap();
            for (k, c) in taken {
                *counts.entry(k).or_default() += c;
            }
        }
    }
}

/// A bucket of `per_minute` requests a minute with bursts of the whole minute's worth.
fn direct(per_minute: i32) -> governor::DefaultDirectRateLimiter {
    let n = std::num::NonZeroU32::new(per_minute.clamp(1, 1_000_000) as u32).expect("at least 1");
    governor::RateLimiter::direct(governor::Quota::per_minute(n))
}

/// Per-source token buckets: `per_second` events a second, bursts of a second's worth (at
/// least 5,000, so one full batch always fits).
pub struct SourceLimiter {
    limiter: governor::DefaultKeyedRateLimiter<Uuid>,
    burst: u32,
}

impl SourceLimiter {
    /// A limiter allowing `per_second` events per second per source.
    pub fn new(per_second: u32) -> Self {
        use std::num::NonZeroU32;
        let rate = NonZeroU32::new(per_second.max(1)).expect("at least 1");
        let burst = per_second.max(5_000);
        let quota = governor::Quota::per_second(rate)
            .allow_burst(NonZeroU32::new(burst).expect("at least 1"));
        SourceLimiter {
            limiter: governor::RateLimiter::keyed(quota),
            burst,
        }
    }

    /// Takes `n` events from the source's bucket, or says how long to wait.
    pub fn check(&self, source: Uuid, n: usize) -> Result<(), Duration> {
        use governor::clock::Clock;
        let n =
            std::num::NonZeroU32::new(n.clamp(1, self.burst as usize) as u32).expect("at least 1");
        match self.limiter.check_key_n(&source, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                Err(not_until.wait_time_from(governor::clock::DefaultClock::default().now()))
            }
            Err(_) => Err(Duration::from_secs(1)),
        }
    }
}

/// Runs the gateway's background work until `cancel` fires: counters flushed every 5 s, and
/// the quarantine copied from its topic into the table (consumer group `quarantine-store`;
/// offsets committed after the rows are stored, so nothing is skipped).
pub fn spawn_background(
    gw: Arc<EventGateway>,
    pool: PgPool,
    bus: Arc<dyn bus::Bus>,
    cancel: bus::CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let flusher = {
        let (gw, pool, cancel) = (gw.clone(), pool.clone(), cancel.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    _ = tick.tick() => gw.flush_counts(&pool).await,
                    _ = cancel.cancelled() => return,
                }
            }
        })
    };
    let quarantine = tokio::spawn(async move {
        let spec = bus::ConsumeSpec::new(QUARANTINE_GROUP, gateway::QUARANTINE_TOPIC);
        bus::consume(bus.as_ref(), &spec, &cancel, &mut QuarantineCopier { pool }).await;
    });
    vec![flusher, quarantine]
}

/// The consumer group that copies the quarantine topic into the table.
pub const QUARANTINE_GROUP: &str = "quarantine-store";

/// Stores each poll of `events.quarantine` in the browsable table; the store is idempotent by
/// partition and offset, so records read again after a failure are not stored twice.
struct QuarantineCopier {
    pool: PgPool,
}

#[async_trait::async_trait]
impl bus::Handler for QuarantineCopier {
    type Error = gateway::quarantine::QuarantineError;

    async fn handle(
        &mut self,
        batch: &[bus::Message],
        _: &[i32],
    ) -> Result<bus::Commit, Self::Error> {
        if !batch.is_empty() {
            gateway::quarantine::store(&self.pool, batch).await?;
        }
        Ok(bus::Commit::Handled)
    }
}
