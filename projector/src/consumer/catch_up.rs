//! Catch-up loops: while a service's consume loop is behind, it hands a
//! share of its partitions to loops of its own. Each is a replay loop (its
//! partitions assigned, not a member of the group) that projects them up to
//! their end offsets of that moment and stops; the loop then takes them back
//! from the offsets in PostgreSQL. Side by side they keep PostgreSQL busy on
//! more than one core (two loops project a backlog ~1.7× as fast on 2
//! cores), while a steady rate keeps one loop and its larger batches (a
//! second member of the group would cost PostgreSQL +25% there).
//!
//! Exactly-once needs nothing new: every batch moves its partitions'
//! offsets fenced on the value it expects, so whoever writes a partition
//! after another (the loop after its catch-up loop, an instance after a
//! rebalance) is fenced and re-reads the offsets.

use super::*;

/// Full batches in a row after which a loop counts as behind: one full
/// batch is a burst, two mean events keep waiting.
pub(super) const BEHIND_AFTER_FULL_BATCHES: u32 = 2;

/// Partitions lent to catch-up loops, paused in the lending loop's consumer.
pub(super) struct CatchUp {
    partitions: Vec<i32>,
    /// The ownership generation they were lent in: after a rebalance the
    /// partitions are taken back at once.
    generation: u64,
    stop: CancellationToken,
    loops: Vec<std::thread::JoinHandle<KafkaResult<()>>>,
}

impl CatchUp {
    /// Whether to take the partitions back: the catch-up loops are done, or
    /// a rebalance came since they started.
    pub(super) fn due(&self, ownership: &Mutex<Ownership>) -> bool {
        self.loops.iter().all(|t| t.is_finished())
            || ownership.lock().expect("ownership lock").generation != self.generation
    }
}

impl ConsumeLoop {
    /// Lends a share of this loop's partitions to each of
    /// `projector.catch_up_loops` catch-up loops, up to the partitions' end
    /// offsets now; `None` when the loop owns fewer than two partitions or
    /// the end offsets cannot be read.
    pub(super) fn start_catch_up(
        &self,
        consumer: &BaseConsumer<OffsetsContext>,
        topic: &str,
        ownership: &Mutex<Ownership>,
    ) -> Option<CatchUp> {
        let (mut owned, generation) = {
            let own = ownership.lock().expect("ownership lock");
            (
                own.next.keys().copied().collect::<Vec<i32>>(),
                own.generation,
            )
        };
        owned.sort_unstable();
        let shares = (self.config.projector.catch_up_loops + 1).min(owned.len());
        if shares < 2 {
            return None;
        }
        let lent: Vec<Vec<i32>> = crate::deal_partitions(&owned, shares).split_off(1);
        let mut end = BTreeMap::new();
        let mut tpl = TopicPartitionList::new();
        for &p in lent.iter().flatten() {
            match consumer.fetch_watermarks(topic, p, Duration::from_secs(5)) {
                Ok((_, high)) => end.insert(p, high),
                Err(e) => {
                    tracing::warn!(partition = p, error = %e,
                        "no end offset for a catch-up loop; the loop goes on alone");
                    return None;
                }
            };
            tpl.add_partition(topic, p);
        }
        if let Err(e) = consumer.pause(&tpl) {
            tracing::warn!(error = %e, "cannot pause partitions for a catch-up loop");
            return None;
        }
        {
            // Records of these partitions still in the client's queue are
            // skipped from now on (not ours until taken back).
            let mut own = ownership.lock().expect("ownership lock");
            for p in end.keys() {
                own.next.remove(p);
            }
        }
        let stop = self.stop.child_token();
        let mut loops = Vec::with_capacity(lent.len());
        for (i, partitions) in lent.into_iter().enumerate() {
            // Its own connections: the loop's are in use by the loop.
            let pool = match missive_core::db::pool(
                &self.config.database_url,
                crate::CONSUME_POOL_SIZE,
                "missive-projector-catch-up",
            ) {
                Ok(pool) => pool,
                Err(e) => {
                    tracing::warn!(error = %e, "no pool for a catch-up loop");
                    continue;
                }
            };
            let helper = ConsumeLoop {
                config: self.config.clone(),
                pool,
                stop: stop.clone(),
                replay: Some(ReplayTarget {
                    end: partitions.iter().map(|p| (*p, end[p])).collect(),
                    partitions,
                    progress: Arc::new(crate::ReplayProgress::default()),
                }),
                schema_ids: self.schema_ids.clone(),
                appender: self.appender.clone(),
                member: format!("{}.catch-up.{i}", self.member),
            };
            loops.push(crate::spawn_loop("projector-catch-up", helper));
        }
        metrics::counter!("missive_projector_catch_up_loops_total", "topic" => topic.to_owned())
            .increment(loops.len() as u64);
        tracing::info!(
            ?end,
            loops = loops.len(),
            "behind: catch-up loops project these partitions up to these offsets"
        );
        Some(CatchUp {
            partitions: end.into_keys().collect(),
            generation,
            stop,
            loops,
        })
    }

    /// Takes the lent partitions back: stops the catch-up loops if a
    /// rebalance came since (they commit the batch in hand), waits for them,
    /// and resumes each partition from the offset stored in PostgreSQL.
    /// Called between polls, so a rebalance waits for that batch (one
    /// batch: ~0.3 s at 5,000 events) before this member rejoins.
    pub(super) fn end_catch_up(
        &self,
        runtime: &Runtime,
        consumer: &BaseConsumer<OffsetsContext>,
        topic: &str,
        ownership: &Mutex<Ownership>,
        catch_up: CatchUp,
    ) {
        let rebalanced =
            ownership.lock().expect("ownership lock").generation != catch_up.generation;
        if rebalanced {
            catch_up.stop.cancel();
        }
        for t in catch_up.loops {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "a catch-up loop failed"),
                Err(_) => tracing::error!("a catch-up loop panicked"),
            }
        }
        let mut tpl = TopicPartitionList::new();
        for &p in &catch_up.partitions {
            tpl.add_partition(topic, p);
        }
        // After a rebalance the assignment holds its own offsets (read from
        // PostgreSQL then); a batch of ours behind a catch-up loop's commit
        // is fenced and re-reads them.
        if !rebalanced {
            if let Some(offsets) = load_offsets_until_stopped(
                runtime,
                &self.pool,
                topic,
                &catch_up.partitions,
                &self.stop,
            ) {
                let mut own = ownership.lock().expect("ownership lock");
                if own.generation == catch_up.generation {
                    own.next.extend(offsets.iter().map(|(p, o)| (*p, *o)));
                    drop(own);
                    for (&p, &o) in &offsets {
                        if let Err(e) =
                            consumer.seek(topic, p, Offset::Offset(o), Duration::from_secs(5))
                        {
                            tracing::warn!(partition = p, error = %e, "seek failed");
                        }
                    }
                }
            }
        }
        if let Err(e) = consumer.resume(&tpl) {
            tracing::warn!(error = %e, "cannot resume partitions after catching up");
        }
        tracing::info!(partitions = ?catch_up.partitions, "caught up: partitions taken back");
    }
}
