//! One `grpc.health.v1` check of a leaf or the merge, on a channel kept for
//! health checks alone (built by the one [`Connector`], lazily, so a process
//! that is down costs a refused connection, and one that comes back is
//! reached again by itself).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::call_status::local_cause;
use crate::topology::{Checked, Connector};

/// Asks processes for their health, keeping one channel per address.
pub struct Checker {
    connector: Connector,
    timeout: Duration,
    clients: Mutex<HashMap<String, HealthClient<Channel>>>,
}

impl Checker {
    /// A checker whose checks take at most `timeout`.
    pub fn new(connector: Connector, timeout: Duration) -> Self {
        Self {
            connector,
            timeout,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The health of the process at `addr`. One without a health service
    /// (UNIMPLEMENTED) answered, so it is up: that counts as serving.
    pub async fn check(&self, addr: &str) -> Checked {
        let mut client = match self.client(addr) {
            Ok(client) => client,
            Err(why) => return Checked::Unreachable(why),
        };
        let call = client.check(HealthCheckRequest::default());
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Checked::Unreachable(format!("no health answer within {:?}", self.timeout)),
            Ok(Ok(answer)) if answer.get_ref().status == ServingStatus::Serving as i32 => {
                Checked::Serving
            }
            Ok(Ok(_)) => Checked::NotServing,
            Ok(Err(status)) if status.code() == Code::Unimplemented => Checked::Serving,
            Ok(Err(status)) => {
                let status = local_cause(status);
                Checked::Unreachable(format!("{:?}: {}", status.code(), status.message()))
            }
        }
    }

    /// Forgets the channels of addresses not in `keep` (replicas that left).
    pub fn retain(&self, keep: &HashSet<&str>) {
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|addr, _| keep.contains(addr.as_str()));
    }

    fn client(&self, addr: &str) -> Result<HealthClient<Channel>, String> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = clients.get(addr) {
            return Ok(client.clone());
        }
        let endpoint = self.connector.endpoint(addr).map_err(|e| e.to_string())?;
        let client = HealthClient::new(endpoint.connect_lazy());
        clients.insert(addr.to_owned(), client.clone());
        Ok(client)
    }
}
