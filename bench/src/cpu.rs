//! CPU time from `/proc`: a whole process (the root, a child of the
//! harness), or the harness's own threads whose name starts with a prefix
//! (the client runtime that runs the in-harness fan-outs).

use std::time::Duration;

use anyhow::Context as _;

/// User + system CPU time of process `pid`, all threads.
pub fn process(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    parse_stat(&stat).map(|(_, cpu)| cpu)
}

/// User + system CPU time of this process's threads named `prefix…`.
pub fn own_threads(prefix: &str) -> anyhow::Result<Duration> {
    let mut total = Duration::ZERO;
    for task in std::fs::read_dir("/proc/self/task")? {
        let Ok(stat) = std::fs::read_to_string(task?.path().join("stat")) else {
            continue; // the thread ended meanwhile
        };
        if let Ok((name, cpu)) = parse_stat(&stat)
            && name.starts_with(prefix)
        {
            total += cpu;
        }
    }
    Ok(total)
}

/// `(comm, utime + stime)` of one `/proc/…/stat` line.
fn parse_stat(stat: &str) -> anyhow::Result<(String, Duration)> {
    // The name is in parentheses and may itself hold spaces or parentheses.
    let open = stat.find('(').context("no ( in stat")?;
    let close = stat.rfind(')').context("no ) in stat")?;
    let name = stat
        .get(open + 1..close)
        .context("no (name) in stat")?
        .to_owned();
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // Fields 14 and 15 of proc(5); the first after ')' is field 3.
    let ticks = |field: usize| -> anyhow::Result<u64> {
        Ok(fields
            .get(field - 3)
            .context("short stat line")?
            .parse::<u64>()?)
    };
    let total = ticks(14)? + ticks(15)?;
    Ok((
        name,
        Duration::from_secs_f64(total as f64 / ticks_per_second()),
    ))
}

fn ticks_per_second() -> f64 {
    // USER_HZ; 100 on every Linux this runs on, asked anyway.
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |t| t as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_gives_name_and_user_plus_system_time() {
        let line = "1234 (bench-client (2)) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 3 0";
        let (name, cpu) = parse_stat(line).unwrap();
        assert_eq!(name, "bench-client (2)");
        assert_eq!(cpu, Duration::from_secs_f64(300.0 / ticks_per_second()));
    }

    #[test]
    fn a_close_parenthesis_before_the_open_one_is_an_error() {
        assert!(parse_stat("1 a) (b 0").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_stat_text_is_read_without_panic(stat in "\\PC{0,96}") {
            let _ = parse_stat(&stat);
        }
    }

    #[test]
    fn reads_this_process() {
        assert!(process(std::process::id()).is_ok());
        assert!(own_threads("").is_ok());
    }
}
