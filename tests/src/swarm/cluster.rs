//! The swarm the test deploys into: the engine's own when it is already a
//! swarm manager (left as it was), else a single-node swarm made for the
//! test on loopback and left when the test ends, pass or fail — with the
//! `docker_gwbridge` network the engine makes for it, when it was not
//! there before.

use super::cli::try_docker;

/// A swarm this test may deploy into.
#[derive(Debug)]
pub struct Swarm {
    /// Whether the test made it, and so must leave it.
    made_here: bool,
    /// Whether the engine made `docker_gwbridge` for this swarm (it stays
    /// after the swarm is left).
    made_gateway: bool,
}

/// The bridge that joins overlay networks to the host, made by the engine
/// on `swarm init` and left behind by `swarm leave`.
const GATEWAY: &str = "docker_gwbridge";

impl Swarm {
    /// Joins the engine's swarm, or makes one when the engine is in none
    /// (listening and advertising on 127.0.0.1 only). `Err` says why no
    /// stack can be deployed here: no engine, or an engine that is a swarm
    /// worker, locked or in error, which the test leaves alone.
    pub fn join() -> Result<Self, String> {
        let state = try_docker(&[
            "info",
            "--format",
            "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
        ])
        .map_err(|e| format!("no Docker engine answers: {e}"))?;
        match state.split_once(' ') {
            Some(("inactive", _)) => {
                let made_gateway = try_docker(&["network", "inspect", GATEWAY]).is_err();
                try_docker(&[
                    "swarm",
                    "init",
                    "--advertise-addr",
                    "127.0.0.1",
                    "--listen-addr",
                    "127.0.0.1:2377",
                ])
                .map_err(|e| format!("cannot make a single-node swarm: {e}"))?;
                Ok(Self {
                    made_here: true,
                    made_gateway,
                })
            }
            Some(("active", "true")) => Ok(Self {
                made_here: false,
                made_gateway: false,
            }),
            _ => Err(format!(
                "the engine's swarm state is {state:?}: not a manager this test may deploy to"
            )),
        }
    }

    /// Whether the test made this swarm (and will leave it).
    pub fn made_here(&self) -> bool {
        self.made_here
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        if self.made_here
            && let Err(e) = try_docker(&["swarm", "leave", "--force"])
        {
            eprintln!("cannot leave the swarm this test made: {e}");
        }
        if self.made_gateway
            && let Err(e) = try_docker(&["network", "rm", GATEWAY])
        {
            eprintln!("cannot remove {GATEWAY}, made for this test's swarm: {e}");
        }
    }
}
