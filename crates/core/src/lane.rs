//! A background lane: one OS thread, at a lower scheduling priority than request handling
//! and the journal writer, that runs a journal consumer's CPU-heavy steps (indexing a batch)
//! one after another.
//!
//! When the CPU is saturated, consumers that run on tokio's blocking pool at the same
//! priority as the runtime take whole time slices (a 4,096-record index batch is tens of
//! milliseconds of CPU) while request handlers wait to be acknowledged. On the lane they get
//! the CPU that requests leave: acknowledgements stay quick and the consumer catches up as soon
//! as there is room. The thread's nice value is raised by [`NICE`]; where that is refused the
//! lane still works, at normal priority.

use std::sync::mpsc;

use tokio::sync::oneshot;

/// How much lower than the process the lane runs (nice +5: about a third of the CPU weight
/// of a normal thread when both want to run).
pub const NICE: i32 = 5;

type Job = Box<dyn FnOnce() + Send>;

/// A lane's handle; dropping it ends the thread once its queued jobs ran.
pub struct Lane {
    jobs: mpsc::Sender<Job>,
}

/// The lane's thread is gone (it could not start, or a job panicked).
#[derive(Debug, thiserror::Error)]
#[error("the background lane stopped")]
pub struct LaneStopped;

impl Lane {
    /// Starts the lane's thread, named `name`.
    pub fn start(name: &str) -> std::io::Result<Lane> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                lower_priority();
                for job in queue {
                    job();
                }
            })?;
        Ok(Lane { jobs })
    }

    /// Runs `job` on the lane and waits for its result.
    pub async fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, LaneStopped> {
        let (done, result) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                // A waiter that went away does not want the result.
                let _ = done.send(job());
            }))
            .map_err(|_| LaneStopped)?;
        result.await.map_err(|_| LaneStopped)
    }
}

/// Raises the calling thread's nice value by [`NICE`] (Linux sets it per thread).
#[cfg(target_os = "linux")]
fn lower_priority() {
    let thread = Some(rustix::thread::gettid());
    let outcome = rustix::process::getpriority_process(thread)
        .and_then(|current| rustix::process::setpriority_process(thread, current + NICE));
    if let Err(err) = outcome {
        tracing::debug!(error = %err, "background lane keeps the normal priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_in_order_on_a_lower_priority_thread() {
        let lane = Lane::start("test-lane").expect("lane");
        let first = lane.run(|| 1 + 1).await.expect("ran");
        let name = lane
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .expect("ran");
        assert_eq!(first, 2);
        assert_eq!(name.as_deref(), Some("test-lane"));
        #[cfg(target_os = "linux")]
        {
            let own = rustix::process::getpriority_process(Some(rustix::thread::gettid()))
                .expect("own priority");
            let lane_priority = lane
                .run(|| rustix::process::getpriority_process(Some(rustix::thread::gettid())))
                .await
                .expect("ran")
                .expect("lane priority");
            assert!(
                lane_priority > own,
                "lane {lane_priority}, test thread {own}"
            );
        }
    }

    #[tokio::test]
    async fn a_panicking_job_stops_the_lane_with_an_error() {
        let lane = Lane::start("test-lane-panics").expect("lane");
        assert!(lane.run(|| panic!("job fails")).await.is_err());
        assert!(lane.run(|| 1).await.is_err());
    }
}
