//! The labels on every object the Docker runtime creates, the run id that
//! ties one tree's objects together, and the owner label that says who may
//! still need them — so a later run can tell a live tree from the leftovers
//! of a root that was killed outright.

use std::collections::HashMap;
use std::hash::{BuildHasher as _, Hasher as _};
use std::path::Path;

/// `scatter.managed=true` on everything Scatter created.
pub const MANAGED: &str = "scatter.managed";
/// The run id: one tree's containers and network.
pub const RUN: &str = "scatter.run";
/// Who needs the run's objects; see [`Owner`].
pub const OWNER: &str = "scatter.owner";
/// `leaf` or `merge`.
pub const ROLE: &str = "scatter.role";
/// A leaf's shard, 0-based.
pub const SHARD: &str = "scatter.shard";
/// A leaf's replica number within its shard, 0-based.
pub const REPLICA: &str = "scatter.replica";

/// The role label of leaves.
pub const ROLE_LEAF: &str = "leaf";
/// The role label of the merge.
pub const ROLE_MERGE: &str = "merge";

/// The id of one run: short, random, usable in container and network names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RunId(String);

impl RunId {
    /// A fresh random id, e.g. `3f9c2a71d0`.
    pub fn random() -> Self {
        // RandomState is seeded from the OS per instance: random enough to
        // keep concurrent runs apart, without a dependency.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        Self(format!("{:010x}", hasher.finish() >> 24))
    }

    /// An id chosen by the caller (a test that wants to find the objects).
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who needs a run's objects. A run whose owner is gone is stale: the next
/// runtime to start removes its objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A process, named so that a later process can tell whether it still
    /// lives: the kernel boot, the pid namespace, the pid and its start time
    /// (so a reused pid does not pass for the owner).
    Process {
        /// `/proc/sys/kernel/random/boot_id`.
        boot: String,
        /// The inode of `/proc/self/ns/pid`.
        pid_namespace: String,
        /// The pid in that namespace.
        pid: u32,
        /// Clock ticks after boot at which the process started.
        started: u64,
    },
    /// A container (a root running in one): alive while it runs.
    Container(String),
}

impl Owner {
    /// This process.
    pub fn this_process() -> Self {
        let pid = std::process::id();
        Self::Process {
            boot: boot_id(),
            pid_namespace: pid_namespace(Path::new("/proc/self")),
            pid,
            started: process_start(pid).unwrap_or(0),
        }
    }

    /// The label value, e.g. `process:<boot>:<ns>:<pid>:<start>`.
    pub fn label(&self) -> String {
        match self {
            Self::Process {
                boot,
                pid_namespace,
                pid,
                started,
            } => format!("process:{boot}:{pid_namespace}:{pid}:{started}"),
            Self::Container(id) => format!("container:{id}"),
        }
    }

    /// Reads a label value; `None` for anything else (left alone by sweeps).
    pub fn parse(label: &str) -> Option<Self> {
        if let Some(id) = label.strip_prefix("container:") {
            return (!id.is_empty()).then(|| Self::Container(id.to_owned()));
        }
        let mut parts = label.strip_prefix("process:")?.split(':');
        let owner = Self::Process {
            boot: parts.next()?.to_owned(),
            pid_namespace: parts.next()?.to_owned(),
            pid: parts.next()?.parse().ok()?,
            started: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(owner)
    }

    /// For a process owner: `Some(true)` when it is certainly gone,
    /// `Some(false)` when it lives, `None` when this process cannot tell
    /// (another pid namespace). Container owners need the engine: `None`.
    pub fn process_gone(&self) -> Option<bool> {
        let Self::Process {
            boot,
            pid_namespace: ns,
            pid,
            started,
        } = self
        else {
            return None;
        };
        if *boot != boot_id() {
            return Some(true); // the machine rebooted since
        }
        if *ns != pid_namespace(Path::new("/proc/self")) {
            return None;
        }
        Some(process_start(*pid) != Some(*started))
    }
}

/// The labels every object of `run` carries.
pub fn for_run(run: &RunId, owner: &Owner) -> HashMap<String, String> {
    HashMap::from([
        (MANAGED.to_owned(), "true".to_owned()),
        (RUN.to_owned(), run.to_string()),
        (OWNER.to_owned(), owner.label()),
    ])
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().replace('-', ""))
        .unwrap_or_default()
}

fn pid_namespace(proc_dir: &Path) -> String {
    std::fs::read_link(proc_dir.join("ns/pid"))
        .ok()
        .and_then(|link| {
            let link = link.to_string_lossy().into_owned();
            // "pid:[4026531836]"
            let inode = link.strip_prefix("pid:[")?.strip_suffix(']')?.to_owned();
            Some(inode)
        })
        .unwrap_or_default()
}

/// Field 22 of `/proc/<pid>/stat`: the start time, in clock ticks after
/// boot; `None` when there is no such process or it is a zombie (dead,
/// waiting to be reaped).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    if matches!(fields.next()?, "Z" | "X") {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_labels_read_back() {
        let me = Owner::this_process();
        assert_eq!(Owner::parse(&me.label()), Some(me));
        let container = Owner::Container("abc".into());
        assert_eq!(Owner::parse(&container.label()), Some(container));
        assert_eq!(Owner::parse("compose"), None);
        assert_eq!(Owner::parse("process:a:b:notapid:1"), None);
    }

    #[test]
    fn this_process_lives_and_a_pid_beyond_the_maximum_does_not() {
        let me = Owner::this_process();
        assert_eq!(me.process_gone(), Some(false));
        let Owner::Process {
            boot,
            pid_namespace,
            ..
        } = me
        else {
            unreachable!()
        };
        let gone = Owner::Process {
            boot,
            pid_namespace,
            pid: u32::MAX,
            started: 1,
        };
        assert_eq!(gone.process_gone(), Some(true));
    }

    #[test]
    fn run_ids_differ() {
        assert_ne!(RunId::random(), RunId::random());
        assert_eq!(RunId::random().as_str().len(), 10);
    }
}
