//! Where the root runs, which decides where the merge goes: into the root's
//! network namespace either way (the pod pattern: the merge is `127.0.0.1`
//! to the root) — its container's when the root runs in one, the host's
//! otherwise — and whether the root must join the leaves' network.

use bollard::Docker;

use crate::error::StartError;

/// Where the root process runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Placement {
    /// Find out: in a container when `/.dockerenv` exists and the engine
    /// knows the container by the id in this process's mounts (or host name).
    #[default]
    Auto,
    /// On the host: leaves are reached through the network's bridge (Linux
    /// routes container addresses from the host).
    Host,
    /// In the container with this id or name.
    Container(String),
}

impl Placement {
    /// Resolves [`Placement::Auto`] and checks a named container exists;
    /// returns the root's container id, or `None` on the host.
    pub async fn resolve(&self, docker: &Docker) -> Result<Option<String>, StartError> {
        let candidate = match self {
            Self::Host => return Ok(None),
            Self::Container(name) => name.clone(),
            Self::Auto => {
                if !std::path::Path::new("/.dockerenv").exists() {
                    return Ok(None);
                }
                match own_container_id() {
                    Some(id) => id,
                    None => return Ok(None),
                }
            }
        };
        match docker.inspect_container(&candidate, None).await {
            Ok(container) => Ok(container.id),
            Err(error) if *self == Self::Auto => {
                tracing::info!(
                    %candidate, %error,
                    "in a container the engine does not know (another engine's?); running as on the host"
                );
                Ok(None)
            }
            Err(error) => Err(StartError::runtime(
                format!("the root's container {candidate:?} is unknown to the engine"),
                error,
            )),
        }
    }
}

/// This container's id: Docker bind-mounts `/etc/hostname` and friends from
/// `/var/lib/docker/containers/<id>/`, which shows in the mount table; the
/// host name (the short id unless overridden) is the fallback.
fn own_container_id() -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    from_mountinfo(&mounts).or_else(|| {
        std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
    })
}

fn from_mountinfo(mounts: &str) -> Option<String> {
    mounts.lines().find_map(|line| {
        let (_, rest) = line.split_once("/containers/")?;
        let id: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
        (id.len() == 64).then_some(id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_id_from_the_mount_table() {
        let id = "a".repeat(64);
        let mounts = format!(
            "101 95 8:1 /var/lib/docker/containers/{id}/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n"
        );
        assert_eq!(from_mountinfo(&mounts), Some(id));
        assert_eq!(
            from_mountinfo("1 2 0:1 / / rw - overlay overlay rw\n"),
            None
        );
    }
}
