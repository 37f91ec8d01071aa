//! `scatter check --image`: the image run as a container on the local
//! Docker engine, its port published on loopback only, labelled like the
//! Docker runtime's objects so a later run sweeps it up if the checker dies.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use futures::StreamExt as _;
use scatter_root::runtime::docker::labels::{self, Owner, RunId};

use super::target::Exit;

/// A container the checker runs.
pub struct Container {
    docker: Docker,
    image: String,
    name: String,
    port: u16,
    host_port: u16,
}

impl Container {
    /// Creates and starts a container of `image` whose process listens on
    /// `port` (told through `SCATTER_LISTEN`), with `env`.
    ///
    /// # Errors
    /// When the engine cannot be reached or the container cannot start.
    pub async fn run(image: &str, port: u16, env: Vec<(String, String)>) -> anyhow::Result<Self> {
        let docker = Docker::connect_with_local_defaults()
            .context("cannot connect to the Docker engine")?
            .negotiate_version()
            .await
            .context("cannot reach the Docker engine (is it running?)")?;
        let run = RunId::random();
        let name = format!("scatter-check-{run}");
        let mut env: Vec<String> = env.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.push(format!("SCATTER_LISTEN=0.0.0.0:{port}"));
        let binding = PortBinding {
            host_ip: Some("127.0.0.1".to_owned()),
            host_port: Some(String::new()),
        };
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            env: Some(env),
            labels: Some(labels::for_run(&run, &Owner::this_process())),
            exposed_ports: Some(vec![format!("{port}/tcp")]),
            host_config: Some(HostConfig {
                port_bindings: Some(HashMap::from([(
                    format!("{port}/tcp"),
                    Some(vec![binding]),
                )])),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        docker
            .create_container(Some(options), body)
            .await
            .with_context(|| format!("cannot create a container of {image} (is it built?)"))?;
        let mut container = Self {
            docker,
            image: image.to_owned(),
            name,
            port,
            host_port: 0,
        };
        if let Err(e) = container.restart().await {
            container.remove(true).await;
            return Err(e);
        }
        Ok(container)
    }

    /// The image's name.
    pub fn image(&self) -> &str {
        &self.image
    }

    /// Where the process answers, on loopback.
    pub fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.host_port)
    }

    /// How to see the process's output.
    pub fn logs_hint(&self) -> String {
        format!("container {}'s log, printed above", self.name)
    }

    /// Starts the (stopped) container and learns its published port.
    ///
    /// # Errors
    /// When the engine refuses.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.docker
            .start_container(&self.name, None)
            .await
            .with_context(|| format!("cannot start container {}", self.name))?;
        let inspected = self
            .docker
            .inspect_container(&self.name, None)
            .await
            .with_context(|| format!("cannot inspect container {}", self.name))?;
        let key = format!("{}/tcp", self.port);
        let host_port = inspected
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|mut ports| ports.remove(&key).flatten())
            .and_then(|bindings| bindings.into_iter().find_map(|b| b.host_port))
            .and_then(|port| port.parse().ok());
        let Some(host_port) = host_port else {
            bail!("container {} published no port for {key}", self.name);
        };
        self.host_port = host_port;
        Ok(())
    }

    /// Sends SIGTERM to the container's process.
    ///
    /// # Errors
    /// When the engine refuses (e.g. the container is not running).
    pub async fn terminate(&self) -> anyhow::Result<()> {
        let options = KillContainerOptionsBuilder::default()
            .signal("TERM")
            .build();
        self.docker
            .kill_container(&self.name, Some(options))
            .await
            .with_context(|| format!("cannot send SIGTERM to container {}", self.name))
    }

    /// How the container's process ended, waiting up to `within`; `None`
    /// while it runs.
    pub async fn exit_within(&self, within: Duration) -> Option<Exit> {
        let ended = async {
            loop {
                match self.docker.inspect_container(&self.name, None).await {
                    Ok(inspected) => {
                        let state = inspected.state.unwrap_or_default();
                        if state.running != Some(true) && state.restarting != Some(true) {
                            let code = state.exit_code.unwrap_or_default();
                            return Exit::code(i32::try_from(code).unwrap_or(i32::MAX));
                        }
                    }
                    Err(e) => return Exit::other(format!("cannot be inspected: {e}")),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(within, ended).await.ok()
    }

    /// Removes the container, printing its output to stderr first when
    /// `show_output`.
    pub async fn remove(self, show_output: bool) {
        if show_output {
            self.print_logs().await;
        }
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self
            .docker
            .remove_container(&self.name, Some(options))
            .await
        {
            Ok(())
            | Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => eprintln!("cannot remove container {}: {e}", self.name),
        }
    }

    async fn print_logs(&self) {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail("200")
            .build();
        let mut logs = self.docker.logs(&self.name, Some(options));
        let mut text = String::new();
        while let Some(Ok(chunk)) = logs.next().await {
            text.push_str(&chunk.to_string());
        }
        if !text.is_empty() {
            eprintln!(
                "--- output of container {} ({}) ---\n{text}",
                self.name, self.image
            );
        }
    }
}
