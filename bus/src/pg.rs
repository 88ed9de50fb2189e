//! The embedded bus: a partitioned log in Postgres.
//!
//! Appends take the partition's row lock to hand out offsets, insert the records and commit
//! (durable at commit, like `acks=all`). Group members share partitions through session
//! advisory locks — a crashed member's locks vanish with its connection — and a members table
//! (liveness: the member's own advisory lock) that tells each member its fair share.

use crate::{
    backoff, check_name, check_partitions, partition_for, Bus, BusError, Consumer, Delivered,
    Message, OutRecord, Reader, ResetTo,
};
use async_trait::async_trait;
use sqlx::{Connection, PgConnection, PgPool, Row};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How often a member heart-beats and re-checks its share.
const REBALANCE_EVERY: Duration = Duration::from_secs(1);

/// The Postgres-backed bus.
#[derive(Clone)]
pub struct PgBus {
    pool: PgPool,
}

impl PgBus {
    /// A bus on the given pool (the tables come from the product's migrations).
    pub fn new(pool: PgPool) -> Self {
        PgBus { pool }
    }

    /// Deletes records older than each topic's retention; returns how many went.
    pub async fn enforce_retention(&self) -> Result<u64, BusError> {
        let r = sqlx::query(
            "DELETE FROM bus_records r USING bus_topics t
              WHERE r.topic = t.name AND r.appended_at < now() - make_interval(secs => t.retention_ms / 1000.0)",
        )
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    async fn partitions_on(&self, conn: &mut PgConnection, topic: &str) -> Result<i32, BusError> {
        sqlx::query_scalar("SELECT partitions FROM bus_topics WHERE name = $1")
            .bind(topic)
            .fetch_optional(conn)
            .await?
            .ok_or_else(|| BusError::UnknownTopic(topic.to_string()))
    }
}

#[async_trait]
impl Bus for PgBus {
    async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), BusError> {
        check_name("topic", topic)?;
        check_partitions(topic, partitions)?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO bus_topics (name, partitions) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(topic)
            .bind(partitions)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO bus_partitions (topic, partition)
             SELECT $1, p FROM bus_topics t, generate_series(0, t.partitions - 1) p WHERE t.name = $1
             ON CONFLICT DO NOTHING",
        )
        .bind(topic)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn partitions(&self, topic: &str) -> Result<i32, BusError> {
        let mut conn = self.pool.acquire().await?;
        self.partitions_on(&mut conn, topic).await
    }

    async fn produce(
        &self,
        topic: &str,
        records: Vec<OutRecord>,
    ) -> Result<Vec<Delivered>, BusError> {
        if records.is_empty() {
            return Ok(vec![]);
        }
        let mut tx = self.pool.begin().await?;
        let partitions = self.partitions_on(&mut tx, topic).await?;
        let parts: Vec<i32> = records
            .iter()
            .map(|r| partition_for(&r.key, partitions))
            .collect();
        let mut counts: BTreeMap<i32, i64> = BTreeMap::new();
        for p in &parts {
            *counts.entry(*p).or_default() += 1;
        }
        let ps: Vec<i32> = counts.keys().copied().collect();
        let ns: Vec<i64> = counts.values().copied().collect();
        // Lock the partitions in a fixed order so concurrent producers never deadlock.
        sqlx::query("SELECT 1 FROM bus_partitions WHERE topic = $1 AND partition = ANY($2) ORDER BY partition FOR UPDATE")
            .bind(topic)
            .bind(&ps)
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query(
            "UPDATE bus_partitions b SET next_offset = b.next_offset + u.n
               FROM unnest($2::int4[], $3::int8[]) AS u(partition, n)
              WHERE b.topic = $1 AND b.partition = u.partition
             RETURNING b.partition, b.next_offset - u.n AS first",
        )
        .bind(topic)
        .bind(&ps)
        .bind(&ns)
        .fetch_all(&mut *tx)
        .await?;
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for r in rows {
            next.insert(r.try_get("partition")?, r.try_get("first")?);
        }
        let mut delivered = Vec::with_capacity(records.len());
        let mut offsets = Vec::with_capacity(records.len());
        for p in &parts {
            let slot = next.get_mut(p).ok_or_else(|| {
                BusError::Unavailable(format!("partition {p} of {topic} is missing"))
            })?;
            delivered.push(Delivered {
                partition: *p,
                offset: *slot,
            });
            offsets.push(*slot);
            *slot += 1;
        }
        let keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
        let values: Vec<&[u8]> = records.iter().map(|r| r.value.as_slice()).collect();
        let ts: Vec<i64> = records.iter().map(|r| r.timestamp_ms).collect();
        sqlx::query(
            "INSERT INTO bus_records (topic, partition, \"offset\", key, value, ts)
             SELECT $1, u.p, u.o, u.k, u.v, to_timestamp(u.t / 1000.0)
               FROM unnest($2::int4[], $3::int8[], $4::text[], $5::bytea[], $6::int8[]) AS u(p, o, k, v, t)",
        )
        .bind(topic)
        .bind(&parts)
        .bind(&offsets)
        .bind(&keys)
        .bind(&values)
        .bind(&ts)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(delivered)
    }

    async fn subscribe(&self, group: &str, topic: &str) -> Result<Box<dyn Consumer>, BusError> {
        check_name("group", group)?;
        let mut conn = self.pool.acquire().await?.detach();
        let partitions = self.partitions_on(&mut conn, topic).await?;
        Ok(Box::new(PgConsumer {
            conn,
            group: group.to_string(),
            topic: topic.to_string(),
            member: Uuid::new_v4(),
            partitions,
            owned: BTreeMap::new(),
            last_rebalance: None,
        }))
    }

    async fn reset_group(&self, group: &str, topic: &str, to: ResetTo) -> Result<(), BusError> {
        check_name("group", group)?;
        let mut conn = self.pool.acquire().await?;
        self.partitions_on(&mut conn, topic).await?;
        let position = match to {
            ResetTo::Earliest => {
                "coalesce((SELECT min(\"offset\") FROM bus_records r WHERE r.topic = b.topic AND r.partition = b.partition), b.next_offset)"
            }
            ResetTo::Latest => "b.next_offset",
            ResetTo::Timestamp(_) => {
                "coalesce((SELECT min(\"offset\") FROM bus_records r WHERE r.topic = b.topic AND r.partition = b.partition
                                AND r.ts >= to_timestamp($3 / 1000.0)), b.next_offset)"
            }
        };
        let at = match to {
            ResetTo::Timestamp(t) => t,
            _ => 0,
        };
        sqlx::query(&format!(
            "INSERT INTO bus_group_offsets (group_id, topic, partition, next_offset)
             SELECT $1, b.topic, b.partition, {position} FROM bus_partitions b WHERE b.topic = $2 AND $3::int8 IS NOT NULL
             ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()"
        ))
        .bind(group)
        .bind(topic)
        .bind(at)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn read(
        &self,
        topic: &str,
        from: &BTreeMap<i32, i64>,
    ) -> Result<Box<dyn Reader>, BusError> {
        let mut conn = self.pool.acquire().await?.detach();
        let partitions = self.partitions_on(&mut conn, topic).await?;
        // Offsets start at 0 and only retention removes records, so 0 means the oldest retained.
        let positions = (0..partitions)
            .map(|p| (p, from.get(&p).copied().unwrap_or(0).max(0)))
            .collect();
        Ok(Box::new(PgReader {
            conn,
            topic: topic.to_string(),
            positions,
        }))
    }
}

/// One member of a group on the Postgres bus; owns partitions through advisory locks held by
/// its own connection.
struct PgConsumer {
    conn: PgConnection,
    group: String,
    topic: String,
    member: Uuid,
    partitions: i32,
    /// Owned partition → next offset to read.
    owned: BTreeMap<i32, i64>,
    last_rebalance: Option<Instant>,
}

/// Sleeps before the next look at the log (backing off); false once `deadline` has passed.
async fn wait_more(step: &mut u32, deadline: Instant) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return false;
    }
    tokio::time::sleep(backoff(*step).min(left)).await;
    *step += 1;
    true
}

/// Up to `max` records after `positions` (partition → next offset, moved past what is
/// returned), in partition and offset order. Partitions with records waiting share `max`
/// fairly: a partition with a backlog gets what the quiet ones leave, so a single busy
/// partition still fills whole polls.
async fn fetch(
    conn: &mut PgConnection,
    topic: &str,
    positions: &mut BTreeMap<i32, i64>,
    max: usize,
) -> Result<Vec<Message>, BusError> {
    let parts: Vec<i32> = positions.keys().copied().collect();
    let ends: Vec<(i32, i64)> = sqlx::query_as(
        "SELECT partition, next_offset FROM bus_partitions WHERE topic = $1 AND partition = ANY($2)",
    )
    .bind(topic)
    .bind(&parts)
    .fetch_all(&mut *conn)
    .await?;
    let waiting: BTreeMap<i32, i64> = ends
        .into_iter()
        .filter_map(|(p, end)| {
            let n = end - positions.get(&p).copied().unwrap_or(end);
            (n > 0).then_some((p, n))
        })
        .collect();
    let shares = fair_shares(&waiting, max as i64);
    if shares.is_empty() {
        return Ok(Vec::new());
    }
    let ps: Vec<i32> = shares.keys().copied().collect();
    let from: Vec<i64> = ps.iter().map(|p| positions[p]).collect();
    let limits: Vec<i64> = shares.values().copied().collect();
    let rows = sqlx::query(
        "SELECT r.partition, r.\"offset\", r.key, r.value, (extract(epoch FROM r.ts) * 1000)::int8 AS ts_ms
           FROM unnest($2::int4[], $3::int8[], $4::int8[]) AS p(partition, pos, lim)
           CROSS JOIN LATERAL (
                SELECT partition, \"offset\", key, value, ts FROM bus_records
                 WHERE topic = $1 AND partition = p.partition AND \"offset\" >= p.pos
                 ORDER BY \"offset\" LIMIT p.lim) r
          ORDER BY r.partition, r.\"offset\"",
    )
    .bind(topic)
    .bind(&ps)
    .bind(&from)
    .bind(&limits)
    .fetch_all(conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let m = Message {
            partition: r.try_get("partition")?,
            offset: r.try_get("offset")?,
            key: r.try_get("key")?,
            value: r.try_get("value")?,
            timestamp_ms: r.try_get("ts_ms")?,
        };
        positions.insert(m.partition, m.offset + 1);
        out.push(m);
    }
    Ok(out)
}

/// Splits a budget of `max` records over partitions with `waiting` records: each gets an equal
/// share, and what a partition cannot use goes to the others (water-filling).
fn fair_shares(waiting: &BTreeMap<i32, i64>, max: i64) -> BTreeMap<i32, i64> {
    let mut by_need: Vec<(i32, i64)> = waiting.iter().map(|(p, n)| (*p, *n)).collect();
    by_need.sort_by_key(|(_, n)| *n);
    let mut left = max.max(1);
    let mut out = BTreeMap::new();
    let count = by_need.len() as i64;
    for (i, (p, n)) in by_need.into_iter().enumerate() {
        let share = (left / (count - i as i64)).max(1);
        let take = n.min(share);
        if take > 0 {
            out.insert(p, take);
            left -= take;
        }
        if left <= 0 {
            break;
        }
    }
    out
}

/// A reader of a whole topic on the Postgres bus: no locks, no committed positions.
struct PgReader {
    conn: PgConnection,
    topic: String,
    /// Partition → next offset to read.
    positions: BTreeMap<i32, i64>,
}

#[async_trait]
impl Reader for PgReader {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Message>, BusError> {
        let deadline = Instant::now() + wait;
        let mut step = 0;
        loop {
            let out = fetch(&mut self.conn, &self.topic, &mut self.positions, max).await?;
            if !out.is_empty() {
                return Ok(out);
            }
            if !wait_more(&mut step, deadline).await {
                return Ok(vec![]);
            }
        }
    }
}

/// FNV-1a over bytes, as an advisory-lock key.
fn fnv64(bytes: impl Iterator<Item = u8>) -> i64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h as i64
}

impl PgConsumer {
    fn lock_key(&self, partition: i32) -> i64 {
        fnv64(
            self.group
                .bytes()
                .chain([0])
                .chain(self.topic.bytes())
                .chain([0])
                .chain(partition.to_le_bytes()),
        )
    }

    fn member_key(&self) -> i64 {
        fnv64(self.member.as_bytes().iter().copied())
    }

    /// Registers (first time) and heart-beats, forgets members whose session is gone, then
    /// takes or gives up partitions so every live member has its share.
    async fn rebalance(&mut self) -> Result<(), BusError> {
        if self.last_rebalance.is_none() {
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(self.member_key())
                .execute(&mut self.conn)
                .await?;
        }
        self.last_rebalance = Some(Instant::now());
        sqlx::query(
            "INSERT INTO bus_group_members (group_id, topic, member_id, lock_key) VALUES ($1, $2, $3, $4)
             ON CONFLICT (group_id, topic, member_id) DO UPDATE SET heartbeat_at = now()",
        )
        .bind(&self.group)
        .bind(&self.topic)
        .bind(self.member)
        .bind(self.member_key())
        .execute(&mut self.conn)
        .await?;
        // A member is alive while its session holds its member lock.
        sqlx::query(
            "DELETE FROM bus_group_members m WHERE m.group_id = $1 AND m.topic = $2 AND NOT EXISTS (
                SELECT 1 FROM pg_locks l
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND l.classid = ((m.lock_key >> 32) & 4294967295)::oid
                   AND l.objid = (m.lock_key & 4294967295)::oid)",
        )
        .bind(&self.group)
        .bind(&self.topic)
        .execute(&mut self.conn)
        .await?;
        let live: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM bus_group_members WHERE group_id = $1 AND topic = $2",
        )
        .bind(&self.group)
        .bind(&self.topic)
        .fetch_one(&mut self.conn)
        .await?;
        let share = (self.partitions as i64 + live.max(1) - 1) / live.max(1);
        // Give up partitions beyond the share (highest first); positions not committed are
        // re-read by the next owner (at-least-once).
        while self.owned.len() as i64 > share {
            let p = *self.owned.keys().next_back().expect("non-empty");
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(self.lock_key(p))
                .execute(&mut self.conn)
                .await?;
            self.owned.remove(&p);
        }
        for p in 0..self.partitions {
            if self.owned.len() as i64 >= share {
                break;
            }
            if self.owned.contains_key(&p) {
                continue;
            }
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(self.lock_key(p))
                .fetch_one(&mut self.conn)
                .await?;
            if got {
                let pos: i64 = sqlx::query_scalar(
                    "SELECT coalesce(
                        (SELECT next_offset FROM bus_group_offsets WHERE group_id = $1 AND topic = $2 AND partition = $3),
                        (SELECT min(\"offset\") FROM bus_records WHERE topic = $2 AND partition = $3),
                        0)",
                )
                .bind(&self.group)
                .bind(&self.topic)
                .bind(p)
                .fetch_one(&mut self.conn)
                .await?;
                self.owned.insert(p, pos);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Consumer for PgConsumer {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Message>, BusError> {
        let deadline = Instant::now() + wait;
        let mut step = 0;
        loop {
            if self
                .last_rebalance
                .is_none_or(|t| t.elapsed() >= REBALANCE_EVERY)
            {
                self.rebalance().await?;
            }
            if !self.owned.is_empty() {
                let out = fetch(&mut self.conn, &self.topic, &mut self.owned, max).await?;
                if !out.is_empty() {
                    return Ok(out);
                }
            }
            if !wait_more(&mut step, deadline).await {
                return Ok(vec![]);
            }
        }
    }

    async fn commit(&mut self, positions: &[(i32, i64)]) -> Result<(), BusError> {
        if let Some((p, _)) = positions.iter().find(|(p, _)| !self.owned.contains_key(p)) {
            return Err(BusError::Invalid(format!(
                "partition {p} of {} is not owned by this member",
                self.topic
            )));
        }
        let ps: Vec<i32> = positions.iter().map(|x| x.0).collect();
        let os: Vec<i64> = positions.iter().map(|x| x.1).collect();
        let mut tx = self.conn.begin().await?;
        sqlx::query(
            "INSERT INTO bus_group_offsets (group_id, topic, partition, next_offset)
             SELECT $1, $2, u.p, u.o FROM unnest($3::int4[], $4::int8[]) AS u(p, o)
             ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()",
        )
        .bind(&self.group)
        .bind(&self.topic)
        .bind(&ps)
        .bind(&os)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    fn assignment(&self) -> Vec<i32> {
        self.owned.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_busy_partition_fills_the_poll_and_quiet_ones_still_get_their_share() {
        let waiting = BTreeMap::from([(0, 5_000), (1, 3), (2, 10)]);
        let shares = fair_shares(&waiting, 2_000);
        assert_eq!(shares, BTreeMap::from([(0, 1_987), (1, 3), (2, 10)]));
        // Two backlogs split the budget.
        let shares = fair_shares(&BTreeMap::from([(4, 9_000), (7, 9_000)]), 1_000);
        assert_eq!(shares, BTreeMap::from([(4, 500), (7, 500)]));
        assert!(fair_shares(&BTreeMap::new(), 100).is_empty());
    }
}
