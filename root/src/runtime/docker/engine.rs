//! The few Docker Engine API calls the runtime makes, through bollard, with
//! errors turned into [`StartError::Runtime`] that say what was being done.

use std::collections::HashMap;

use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, ContainerSummary, ContainerSummaryStateEnum, EventMessage,
    NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, EventsOptionsBuilder, ListContainersOptionsBuilder,
    ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures::{Stream, StreamExt as _};

use super::labels::{self, RunId};
use crate::error::StartError;

/// Connects to the local engine (`DOCKER_HOST` or the Unix socket) and
/// agrees on an API version it supports: engines here may be older than
/// bollard's default.
pub async fn connect() -> Result<Docker, StartError> {
    let docker =
        Docker::connect_with_local_defaults().map_err(failed("connect to the Docker engine"))?;
    docker
        .negotiate_version()
        .await
        .map_err(failed("reach the Docker engine (is it running?)"))
}

/// Maps a bollard error to a runtime error naming what was being done.
pub fn failed(what: &str) -> impl FnOnce(DockerError) -> StartError + '_ {
    move |error| StartError::runtime(format!("cannot {what}"), error)
}

/// Whether `error` is the engine's "no such object".
pub fn is_not_found(error: &DockerError) -> bool {
    matches!(
        error,
        DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Creates a bridge network; returns its id.
pub async fn create_network(
    docker: &Docker,
    name: &str,
    labels: HashMap<String, String>,
) -> Result<String, StartError> {
    let response = docker
        .create_network(NetworkCreateRequest {
            name: name.to_owned(),
            driver: Some("bridge".to_owned()),
            labels: Some(labels),
            ..NetworkCreateRequest::default()
        })
        .await
        .map_err(failed("create the network"))?;
    Ok(response.id)
}

/// Creates and starts a container named `name`; returns its id.
pub async fn run_container(
    docker: &Docker,
    name: &str,
    body: ContainerCreateBody,
) -> Result<String, StartError> {
    let image = body.image.clone().unwrap_or_default();
    let options = CreateContainerOptionsBuilder::default().name(name).build();
    let created = docker
        .create_container(Some(options), body)
        .await
        .map_err(|e| {
            StartError::runtime(
                format!(
                    "cannot create container {name} from image {image:?} \
                     (images are built locally: deploy/build-images.sh)"
                ),
                e,
            )
        })?;
    docker
        .start_container(&created.id, None)
        .await
        .map_err(|e| StartError::runtime(format!("cannot start container {name}"), e))?;
    Ok(created.id)
}

/// Sends SIGTERM and waits up to `grace_secs` for the container to exit
/// (then the engine kills it). A container already gone is not an error.
pub async fn stop_container(docker: &Docker, id: &str, grace_secs: i32) {
    let options = StopContainerOptionsBuilder::default().t(grace_secs).build();
    if let Err(error) = docker.stop_container(id, Some(options)).await
        && !is_not_found(&error)
    {
        tracing::debug!(%id, %error, "stop failed; the removal kills it");
    }
}

/// Removes a container, killing it if it runs. Gone already is fine.
pub async fn remove_container(docker: &Docker, id: &str) -> Result<(), StartError> {
    let options = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    match docker.remove_container(id, Some(options)).await {
        Err(error) if !is_not_found(&error) => Err(failed("remove a container")(error)),
        _ => Ok(()),
    }
}

/// Attaches a running container to a network.
pub async fn connect_network(
    docker: &Docker,
    network: &str,
    container: &str,
) -> Result<(), StartError> {
    docker
        .connect_network(
            network,
            NetworkConnectRequest {
                container: container.to_owned(),
                endpoint_config: None,
            },
        )
        .await
        .map_err(failed("attach the root's container to the leaves' network"))
}

/// Detaches a container from a network; not attached is fine.
pub async fn disconnect_network(docker: &Docker, network: &str, container: &str) {
    let request = NetworkDisconnectRequest {
        container: container.to_owned(),
        force: Some(true),
    };
    if let Err(error) = docker.disconnect_network(network, request).await {
        tracing::debug!(%network, %container, %error, "disconnect failed");
    }
}

/// Removes a network; gone already is fine.
pub async fn remove_network(docker: &Docker, id: &str) -> Result<(), StartError> {
    match docker.remove_network(id).await {
        Err(error) if !is_not_found(&error) => Err(failed("remove the network")(error)),
        _ => Ok(()),
    }
}

/// Every container carrying `label=value` (any state).
pub async fn containers_with(
    docker: &Docker,
    label: &str,
    value: &str,
) -> Result<Vec<ContainerSummary>, StartError> {
    let filters = HashMap::from([("label", vec![format!("{label}={value}")])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    docker
        .list_containers(Some(options))
        .await
        .map_err(failed("list containers"))
}

/// Every network carrying `label=value`: (id, labels).
pub async fn networks_with(
    docker: &Docker,
    label: &str,
    value: &str,
) -> Result<Vec<(String, HashMap<String, String>)>, StartError> {
    let filters = HashMap::from([("label", vec![format!("{label}={value}")])]);
    let options = ListNetworksOptionsBuilder::default()
        .filters(&filters)
        .build();
    let networks = docker
        .list_networks(Some(options))
        .await
        .map_err(failed("list networks"))?;
    Ok(networks
        .into_iter()
        .filter_map(|n| Some((n.id?, n.labels.unwrap_or_default())))
        .collect())
}

/// Removes every container and network of `run`. Containers first: a
/// network with endpoints cannot be removed. Attached containers of other
/// runs (a root in a container) are detached first.
pub async fn remove_run(docker: &Docker, run: &RunId) -> Result<(), StartError> {
    let containers = containers_with(docker, labels::RUN, run.as_str()).await?;
    let removals = containers
        .iter()
        .filter_map(|c| c.id.as_deref())
        .map(|id| remove_container(docker, id));
    let mut first_error = futures::future::join_all(removals)
        .await
        .into_iter()
        .find_map(Result::err);
    for (id, _) in networks_with(docker, labels::RUN, run.as_str()).await? {
        if let Ok(network) = docker
            .inspect_network(
                &id,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
        {
            for attached in network.containers.unwrap_or_default().into_keys() {
                disconnect_network(docker, &id, &attached).await;
            }
        }
        if let Err(error) = remove_network(docker, &id).await {
            first_error.get_or_insert(error);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Whether a container counts as alive: running, or paused (hung, but
/// there; the fan-out's deadlines and hedges deal with it).
pub fn is_up(container: &ContainerSummary) -> bool {
    matches!(
        container.state,
        Some(ContainerSummaryStateEnum::RUNNING | ContainerSummaryStateEnum::PAUSED)
    )
}

/// Whether a container has stopped and should be started again.
pub fn is_down(container: &ContainerSummary) -> bool {
    matches!(
        container.state,
        Some(
            ContainerSummaryStateEnum::EXITED
                | ContainerSummaryStateEnum::CREATED
                | ContainerSummaryStateEnum::DEAD
        )
    )
}

/// The container's IPv4 address on `network` (by name), if attached.
pub fn address_on(container: &ContainerSummary, network: &str) -> Option<String> {
    let endpoint = container
        .network_settings
        .as_ref()?
        .networks
        .as_ref()?
        .get(network)?;
    endpoint
        .ip_address
        .as_deref()
        .filter(|ip| !ip.is_empty())
        .map(str::to_owned)
}

/// Engine events about `run`'s containers and about its network (a
/// container attached or detached): each one is a reason to look again.
pub fn run_events(
    docker: &Docker,
    run: &RunId,
    network: &str,
) -> impl Stream<Item = EventMessage> + Send + Unpin + use<> {
    let containers = HashMap::from([
        ("type", vec!["container".to_owned()]),
        ("label", vec![format!("{}={run}", labels::RUN)]),
    ]);
    let network = HashMap::from([
        ("type", vec!["network".to_owned()]),
        ("network", vec![network.to_owned()]),
    ]);
    let of_containers = docker.events(Some(
        EventsOptionsBuilder::default().filters(&containers).build(),
    ));
    let of_network = docker.events(Some(
        EventsOptionsBuilder::default().filters(&network).build(),
    ));
    futures::stream::select(of_containers, of_network)
        .filter_map(|event| std::future::ready(event.ok()))
        .boxed()
}
