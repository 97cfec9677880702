//! [`JournalFollower`]: the one loop every consumer of the journal runs in.
//!
//! A consumer ([`JournalConsumer`]) says what journal entries do and where its position lives;
//! the follower does the rest, the same way for every consumer:
//!
//! 1. opens the journal cursor named after the consumer, then the consumer, which says where it
//!    resumes ([`JournalConsumer::open`]);
//! 2. steps, each step one job on tokio's blocking pool (or on the consumer's [`Lane`]): asks
//!    the consumer where it stands ([`JournalConsumer::position`]: a reset may have moved it),
//!    takes the journal's end, lets the consumer pass entries it has no use for without reading
//!    them ([`JournalConsumer::skip`]), else reads up to `BATCH` entries after the position and
//!    not past that end, and hands them to [`JournalConsumer::apply`];
//! 3. with nothing to read, lets the consumer save a position it keeps lazily
//!    ([`JournalConsumer::idle`]), reports `idle` and waits for an append (at most
//!    `IDLE_RECHECK`), or shutdown;
//! 4. after a failed step (or a panic) reports `retrying` with the error and waits (`RETRY`);
//! 5. at shutdown lets the consumer save its position ([`JournalConsumer::finish`]).
//!
//! Where the position is stored, and whether it moves in the same write as the consumer's
//! effects, is the consumer's own: that is what makes each consumer exactly once, so the
//! follower never writes it. The journal cursor only lets the journal drop segments every
//! consumer has passed; the follower moves it to a position the consumer reports saved
//! ([`Progress::saved`]) once that is more than `CURSOR_LAG` entries past it, and at shutdown.

use std::fmt::Display;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentrail_journal::{Cursor, Entry, Journal, Seq};

use super::{Backoff, Worker, WorkerContext, WorkerState};
use crate::AppState;
use crate::lane::Lane;

/// What a consumer of the journal does with its entries; run by a [`JournalFollower`].
///
/// Within one step the follower calls [`position`](Self::position), then at most one of
/// [`skip`](Self::skip) and [`apply`](Self::apply), or [`idle`](Self::idle) when nothing is
/// past the position; a consumer may keep what `position` or `skip` learned for the `apply`
/// that follows. Every method runs on a blocking thread (or the consumer's lane).
pub trait JournalConsumer: Sized + Send + 'static {
    /// The worker's name, and the name of its journal cursor.
    const NAME: &'static str;
    /// Entries read at a time.
    const BATCH: usize;
    /// The name of a [`Lane`] (a thread below the request handlers' priority) to run the
    /// steps on, instead of tokio's blocking pool.
    const LANE: Option<&'static str> = None;
    /// How far a saved position may run ahead of the journal cursor before the cursor is
    /// moved to it.
    const CURSOR_LAG: u64 = 0;
    /// While idle, how long to wait before [`Self::idle`] runs again without an append.
    const IDLE_RECHECK: Option<Duration> = None;
    /// The waits after failed steps.
    const RETRY: Backoff = Backoff::constant(Duration::from_secs(1));

    type Error: Display;

    /// Opens what the consumer needs; returns it and the position it resumes after (every
    /// entry at or below it is applied). `cursor` is the journal cursor's position.
    fn open(state: &Arc<AppState>, cursor: Seq) -> Result<(Self, Seq), Self::Error>;

    /// The position to read after, given the one the follower last knew. A consumer whose
    /// position lives in its own store (where a reset may move it) reads it here.
    fn position(&mut self, known: Seq) -> Result<Seq, Self::Error> {
        Ok(known)
    }

    /// Called when entries after `after`, up to `end`, wait to be read: `Some` moves past
    /// them without reading (nothing there can concern the consumer), `None` reads them.
    fn skip(&mut self, _after: Seq, _end: Seq) -> Result<Option<Progress>, Self::Error> {
        Ok(None)
    }

    /// Applies `entries`: ascending and contiguous, right after `after`.
    fn apply(&mut self, after: Seq, entries: Vec<Entry>) -> Result<Progress, Self::Error>;

    /// Called when nothing is past `position`; may save a position kept lazily, returning it
    /// when it did.
    fn idle(&mut self, _position: Seq) -> Result<Option<Seq>, Self::Error> {
        Ok(None)
    }

    /// At shutdown: saves `position` (the last the follower knew); returns the position now
    /// saved, where the journal cursor goes.
    fn finish(&mut self, position: Seq) -> Result<Seq, Self::Error>;
}

/// How far a step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The position after the step: every entry at or below it is applied.
    pub to: Seq,
    /// Items processed (shown in the worker's status).
    pub processed: u64,
    /// A position now saved in the consumer's own store, if the step saved one.
    pub saved: Option<Seq>,
}

/// Runs a [`JournalConsumer`] as a [`Worker`] named after it.
pub struct JournalFollower<C>(PhantomData<fn() -> C>);

impl<C: JournalConsumer> JournalFollower<C> {
    pub fn new() -> JournalFollower<C> {
        JournalFollower(PhantomData)
    }
}

impl<C: JournalConsumer> Default for JournalFollower<C> {
    fn default() -> JournalFollower<C> {
        JournalFollower::new()
    }
}

impl<C: JournalConsumer> Worker for JournalFollower<C> {
    fn name(&self) -> &'static str {
        C::NAME
    }

    async fn run(self, ctx: WorkerContext) -> Result<(), String> {
        let mut runner = Runner::start(C::LANE)?;
        let opening = ctx.state.clone();
        let (following, mut position) =
            runner.run(move || Following::<C>::open(&opening)).await??;
        let following = Arc::new(Mutex::new(following));
        let mut processed = 0u64;
        let mut retry = C::RETRY;
        while !ctx.stopping() {
            let stepping = following.clone();
            let known = position;
            let step = runner.run(move || lock(&stepping).step(known)).await;
            match step.and_then(|step| step) {
                Ok(Step::Moved(progress)) => {
                    position = progress.to;
                    processed += progress.processed;
                    retry.succeeded();
                    ctx.report(WorkerState::Running, processed, None);
                }
                Ok(Step::Idle(at)) => {
                    position = at;
                    retry.succeeded();
                    ctx.report(WorkerState::Idle, processed, None);
                    let recheck = async {
                        match C::IDLE_RECHECK {
                            Some(wait) => tokio::time::sleep(wait).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        () = ctx.state.journal.wait_beyond(at) => {}
                        () = recheck => {}
                        () = ctx.stopped() => {}
                    }
                }
                Err(error) => {
                    tracing::error!(
                        consumer = C::NAME,
                        error,
                        "journal consumer failed; retrying"
                    );
                    ctx.report(WorkerState::Retrying, processed, Some(error));
                    ctx.sleep(retry.failed()).await;
                }
            }
        }
        let finishing = following.clone();
        if let Err(err) = runner.run(move || lock(&finishing).finish(position)).await {
            tracing::warn!(
                consumer = C::NAME,
                error = err,
                "journal consumer did not finish"
            );
        }
        Ok(())
    }
}

/// What one step did.
enum Step {
    Moved(Progress),
    /// Nothing after this position yet.
    Idle(Seq),
}

/// A consumer with its journal cursor.
struct Following<C> {
    consumer: C,
    journal: Journal,
    cursor: Cursor,
}

impl<C: JournalConsumer> Following<C> {
    fn open(state: &Arc<AppState>) -> Result<(Following<C>, Seq), String> {
        let cursor = state
            .journal
            .cursor(C::NAME)
            .map_err(|err| format!("the journal cursor {} does not open: {err}", C::NAME))?;
        let (consumer, position) =
            C::open(state, cursor.position()).map_err(|err| err.to_string())?;
        let following = Following {
            consumer,
            journal: state.journal.clone(),
            cursor,
        };
        Ok((following, position))
    }

    fn step(&mut self, known: Seq) -> Result<Step, String> {
        let step = self.next(known)?;
        match step {
            Step::Moved(progress) => self.cursor_follows(progress.saved),
            Step::Idle(at) => match self.consumer.idle(at) {
                Ok(saved) => self.cursor_follows(saved),
                Err(err) => {
                    tracing::warn!(consumer = C::NAME, error = %err, "saving an idle position failed");
                }
            },
        }
        Ok(step)
    }

    fn next(&mut self, known: Seq) -> Result<Step, String> {
        let after = self
            .consumer
            .position(known)
            .map_err(|err| err.to_string())?;
        let end = self.journal.last_seq();
        if end <= after {
            return Ok(Step::Idle(after));
        }
        let skipped = self
            .consumer
            .skip(after, end)
            .map_err(|err| err.to_string())?;
        if let Some(progress) = skipped {
            return Ok(Step::Moved(progress));
        }
        // Not past `end`: entries appended after it may follow a change the consumer's view,
        // taken in `skip`, does not show yet.
        let wanted = usize::try_from(end - after)
            .unwrap_or(usize::MAX)
            .min(C::BATCH);
        let entries = self
            .journal
            .read_from(after, wanted)
            .map_err(|err| format!("reading the journal: {err}"))?;
        debug_assert!(entries.last().is_none_or(|entry| entry.seq <= end));
        if entries.is_empty() {
            return Ok(Step::Idle(after));
        }
        let progress = self
            .consumer
            .apply(after, entries)
            .map_err(|err| err.to_string())?;
        Ok(Step::Moved(progress))
    }

    /// Moves the journal cursor to `saved` once that is more than `CURSOR_LAG` past it.
    fn cursor_follows(&mut self, saved: Option<Seq>) {
        let Some(saved) = saved else {
            return;
        };
        if saved <= self.cursor.position().saturating_add(C::CURSOR_LAG) {
            return;
        }
        if let Err(err) = self.cursor.commit(saved) {
            tracing::warn!(consumer = C::NAME, error = %err, "journal cursor commit failed");
        }
    }

    fn finish(&mut self, position: Seq) {
        match self.consumer.finish(position) {
            Ok(saved) => {
                if let Err(err) = self.cursor.commit(saved) {
                    tracing::warn!(consumer = C::NAME, error = %err, "journal cursor commit failed");
                }
            }
            Err(err) => {
                tracing::warn!(consumer = C::NAME, error = %err, "the position was not saved at shutdown; the journal cursor stays where it was");
            }
        }
    }
}

fn lock<C>(following: &Mutex<C>) -> std::sync::MutexGuard<'_, C> {
    // A step that panicked left the consumer as it was; the next step starts from its position.
    following.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where a consumer's steps run.
enum Runner {
    Pool,
    Lane { name: &'static str, lane: Lane },
}

impl Runner {
    fn start(lane: Option<&'static str>) -> Result<Runner, String> {
        match lane {
            None => Ok(Runner::Pool),
            Some(name) => Lane::start(name)
                .map(|lane| Runner::Lane { name, lane })
                .map_err(|err| format!("the lane {name} does not start: {err}")),
        }
    }

    /// Runs `job` and waits for its result; a job that panicked is an error (and a lane whose
    /// thread it stopped is started again).
    async fn run<R: Send + 'static>(
        &mut self,
        job: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, String> {
        match self {
            Runner::Pool => tokio::task::spawn_blocking(job)
                .await
                .map_err(|err| err.to_string()),
            Runner::Lane { name, lane } => match lane.run(job).await {
                Ok(result) => Ok(result),
                Err(stopped) => {
                    match Lane::start(name) {
                        Ok(fresh) => *lane = fresh,
                        Err(err) => {
                            tracing::error!(lane = *name, error = %err, "the lane does not restart");
                        }
                    }
                    Err(stopped.to_string())
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServerConfig;
    use crate::workers::tests::{status, wait_until};

    /// What the test consumer saw, kept where the test can look (the consumer is opened by
    /// the follower from the state).
    #[derive(Default)]
    struct Seen {
        seqs: Mutex<Vec<Seq>>,
        saved: Mutex<Seq>,
        failures_left: Mutex<u32>,
    }

    struct Counting {
        seen: Arc<Seen>,
    }

    impl JournalConsumer for Counting {
        const NAME: &'static str = "counting";
        const BATCH: usize = 3;
        const RETRY: Backoff = Backoff::constant(Duration::from_millis(10));
        type Error = String;

        fn open(state: &Arc<AppState>, cursor: Seq) -> Result<(Counting, Seq), String> {
            let seen = state.extensions.get_or_init(Seen::default);
            let saved = *lock(&seen.saved);
            Ok((Counting { seen }, saved.max(cursor)))
        }

        fn apply(&mut self, after: Seq, entries: Vec<Entry>) -> Result<Progress, String> {
            let mut failures_left = lock(&self.seen.failures_left);
            if *failures_left > 0 {
                *failures_left -= 1;
                return Err("the test asks for a failure".into());
            }
            assert!(entries.len() <= Self::BATCH);
            assert_eq!(entries.first().map(|entry| entry.seq), Some(after + 1));
            let to = entries.last().map_or(after, |entry| entry.seq);
            lock(&self.seen.seqs).extend(entries.iter().map(|entry| entry.seq));
            Ok(Progress {
                to,
                processed: entries.len() as u64,
                saved: None,
            })
        }

        fn finish(&mut self, position: Seq) -> Result<Seq, String> {
            *lock(&self.seen.saved) = position;
            Ok(position)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_follower_applies_every_entry_once_in_order_retries_and_saves_at_shutdown() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state =
            Arc::new(AppState::open(ServerConfig::for_tests(dir.path().into())).expect("state"));
        let seen = state.extensions.get_or_init(Seen::default);
        *lock(&seen.failures_left) = 2;
        for n in 0..7u8 {
            state.journal.append(vec![n]).await.expect("append");
        }
        state
            .workers
            .spawn(&state, JournalFollower::<Counting>::new());
        wait_until("the first entries", || lock(&seen.seqs).len() == 7).await;
        // Woken by appends while idle.
        wait_until("idle", || {
            status(&state, "counting") == Some((WorkerState::Idle, 7))
        })
        .await;
        for n in 7..10u8 {
            state.journal.append(vec![n]).await.expect("append");
        }
        wait_until("the later entries", || lock(&seen.seqs).len() == 10).await;
        state.shutdown().await;
        assert_eq!(*lock(&seen.seqs), (1..=10).collect::<Vec<Seq>>());
        assert_eq!(*lock(&seen.saved), 10);
        assert_eq!(
            state.journal.cursor("counting").expect("cursor").position(),
            10
        );
        assert_eq!(status(&state, "counting"), Some((WorkerState::Stopped, 10)));
    }
}
