//! Where benchmarks keep their data, and the environment variables that tune them.

use std::path::Path;

/// A fresh temporary directory for one benchmark run, removed when dropped.
///
/// It is created under `OPENTRAIL_BENCH_DIR` when set, else in the system temporary directory.
/// Either way it should sit on a real disk: fsync on tmpfs costs nothing and would flatter the
/// journal. [`filesystem_of`] says where it ended up.
pub fn bench_dir(prefix: &str) -> anyhow::Result<tempfile::TempDir> {
    let builder = {
        let mut builder = tempfile::Builder::new();
        builder.prefix(prefix);
        builder
    };
    let dir = match std::env::var_os("OPENTRAIL_BENCH_DIR") {
        Some(parent) => {
            fs_err::create_dir_all(&parent)?;
            builder.tempdir_in(parent)?
        }
        None => builder.tempdir()?,
    };
    Ok(dir)
}

/// The filesystem holding `path`, from `/proc/mounts`: `"ext4 on /dev/vda (mounted at /)"`.
/// `"unknown filesystem"` where `/proc/mounts` cannot be read.
pub fn filesystem_of(path: &Path) -> String {
    let path = fs_err::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let Ok(mounts) = fs_err::read_to_string("/proc/mounts") else {
        return "unknown filesystem".to_owned();
    };
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let device = fields.next()?;
            let mount_point = fields.next()?;
            let fs_type = fields.next()?;
            path.starts_with(mount_point)
                .then_some((mount_point, device, fs_type))
        })
        // The longest mount point that contains the path is the one it lives on.
        .max_by_key(|(mount_point, _, _)| mount_point.len())
        .map(|(mount_point, device, fs_type)| {
            format!("{fs_type} on {device} (mounted at {mount_point})")
        })
        .unwrap_or_else(|| "unknown filesystem".to_owned())
}

/// A positive integer from the environment variable `name`, else `default`.
pub fn env_usize(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(text) if !text.is_empty() => {
            let text = text.replace('_', "");
            match text.parse::<usize>() {
                Ok(value) if value > 0 => Ok(value),
                _ => anyhow::bail!("{name} must be a positive whole number, got {text:?}"),
            }
        }
        _ => Ok(default),
    }
}

/// The number of CPUs this process may use.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The 1-minute load average from `/proc/loadavg` (other work on the machine skews results).
pub fn load_average() -> String {
    fs_err::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// CPU time (user + system) this process has used so far, from `/proc/self/stat`; zero where
/// that cannot be read. Next to wall time it shows whether a run got the CPUs it wanted.
pub fn cpu_time() -> std::time::Duration {
    // Fields 14 and 15 (utime, stime) in clock ticks, counted after the `(comm)` field, which
    // may contain spaces. Linux reports them in units of USER_HZ = 100.
    const TICKS_PER_SECOND: u64 = 100;
    let Ok(stat) = fs_err::read_to_string("/proc/self/stat") else {
        return std::time::Duration::ZERO;
    };
    let Some((_, after_comm)) = stat.rsplit_once(") ") else {
        return std::time::Duration::ZERO;
    };
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    std::time::Duration::from_millis(ticks * 1_000 / TICKS_PER_SECOND)
}

/// CPU time the calling thread has used so far, in seconds, from the first field of
/// `/proc/thread-self/schedstat` (nanoseconds on the CPU); `None` where that cannot be read.
/// Finer than [`cpu_time`] (ticks of 10 ms) and blind to other threads of the process.
pub fn thread_cpu_seconds() -> Option<f64> {
    let text = fs_err::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(nanos / 1e9)
}

/// `"CPU 12.3 s in 10.0 s wall (1.23 cores)"` for the time since `wall_start`, given the
/// [`cpu_time`] at that moment.
pub fn cpu_report(wall_start: std::time::Instant, cpu_start: std::time::Duration) -> String {
    let wall = wall_start.elapsed().as_secs_f64();
    let cpu = cpu_time().saturating_sub(cpu_start).as_secs_f64();
    format!(
        "CPU {cpu:.1} s in {wall:.1} s wall ({:.2} cores)",
        cpu / wall.max(f64::MIN_POSITIVE)
    )
}

/// `"RSS 812 MB (peak 1,034 MB)"`: this process's resident set now and at its highest, from
/// `VmRSS` and `VmHWM` in `/proc/self/status`; `"RSS unknown"` where that cannot be read.
pub fn memory_report() -> String {
    let Ok(status) = fs_err::read_to_string("/proc/self/status") else {
        return "RSS unknown".to_owned();
    };
    let kib = |field: &str| -> Option<u64> {
        let line = status.lines().find(|line| line.starts_with(field))?;
        line[field.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    match (kib("VmRSS:"), kib("VmHWM:")) {
        (Some(now), Some(peak)) => format!(
            "RSS {} MB (peak {} MB)",
            crate::stats::thousands(now / 1024),
            crate::stats::thousands(peak / 1024)
        ),
        _ => "RSS unknown".to_owned(),
    }
}
