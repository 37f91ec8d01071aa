//! `scatter`, `scatter-hedge`, `scatter-merge`, `plain-root`: a query to a
//! root process — Scatter's, or the hand-written one — which fans out to
//! the same leaves. Every shard is required (`require_all_shards`), so a
//! partial answer counts as an error, as it does for the hand-written
//! fan-outs. [`scatter_embedded`](super::ScatterEmbedded) sends the same
//! query in process, [`scatter_stream`](super::ScatterStream) as a
//! `QueryStream`.

use std::net::SocketAddr;

use scatter_proto::v1::root_client::RootClient;
use scatter_proto::v1::{Policy, QueryRequest, QueryResponse};
use tonic::transport::Channel;

use crate::work;

use super::{
    CallFuture, CallSettings, Failure, MAX_MESSAGE, Milestones, Target, channel, describe,
};

/// A client of one root.
pub struct ScatterQuery {
    client: RootClient<Channel>,
    settings: CallSettings,
}

impl ScatterQuery {
    /// Connects to the root at `addr`.
    pub async fn connect(addr: SocketAddr, settings: CallSettings) -> anyhow::Result<Self> {
        Ok(Self {
            client: root_client(addr).await?,
            settings,
        })
    }
}

/// A client of the root at `addr`, connected now.
pub(super) async fn root_client(addr: SocketAddr) -> anyhow::Result<RootClient<Channel>> {
    Ok(RootClient::new(channel(addr).await?)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE))
}

impl Target for ScatterQuery {
    fn call(&self, request: u64) -> CallFuture {
        let mut client = self.client.clone();
        let query = timed_query(&self.settings, request);
        Box::pin(async move {
            let response = client.query(query).await.map_err(|s| describe(&s))?;
            answered_in_full(&response.into_inner())
        })
    }
}

/// The query of request `request`, asking for every shard, with its
/// priority when the settings give a mix and its fingerprint when they say
/// queries carry one.
pub(super) fn query(settings: &CallSettings, request: u64) -> QueryRequest {
    let mut policy = Policy {
        require_all_shards: true,
        ..Policy::default()
    };
    if let Some(mix) = settings.priorities {
        policy.set_priority(mix.of(request));
    }
    if let Some(fingerprint) = settings.fingerprint(request) {
        policy.fingerprint = fingerprint;
    }
    QueryRequest {
        payload: Some(settings.payload(request)),
        policy: Some(policy),
    }
}

/// [`query`] with the client's deadline as `grpc-timeout`.
pub(super) fn timed_query(settings: &CallSettings, request: u64) -> tonic::Request<QueryRequest> {
    let mut query = tonic::Request::new(query(settings, request));
    query.set_timeout(settings.timeout);
    query
}

/// A full answer's milestones (the work it used); a partial answer is an
/// error, whatever the root let through.
pub(super) fn answered_in_full(response: &QueryResponse) -> Result<Milestones, Failure> {
    every_shard_answered(response)?;
    Ok(Milestones {
        leaf_busy: work::used_by_response(response),
        ..Milestones::default()
    })
}

/// A partial answer is an error, whatever the root let through.
pub(super) fn every_shard_answered(response: &QueryResponse) -> Result<(), Failure> {
    let (answered, total) = response
        .coverage
        .as_ref()
        .map_or((0, 0), |c| (c.answered, c.total));
    if answered != total {
        return Err(format!("partial answer: {answered}/{total} shards").into());
    }
    Ok(())
}
