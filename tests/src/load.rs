//! Steady load on a root: a few clients, each sending one query after the
//! other on its own connection, every call recorded with when it started,
//! when it ended and how. Used to prove what a drain or a restart does to
//! the requests around it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use scatter_proto::v1::QueryResponse;
use scatter_proto::v1::root_client::RootClient;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::transport::Endpoint;
use tonic::{Code, Status};

use crate::root::Query;

/// One query sent under load.
#[derive(Debug)]
pub struct Sent {
    /// Which client sent it.
    pub client: usize,
    /// When the call started.
    pub started: Instant,
    /// When its answer or status came back.
    pub ended: Instant,
    /// The answer, or the status it failed with.
    pub result: Result<QueryResponse, Status>,
}

impl Sent {
    /// The call's gRPC code (`Ok` for an answer).
    pub fn code(&self) -> Code {
        self.result.as_ref().map_or_else(Status::code, |_| Code::Ok)
    }
}

/// Clients sending `query` to one root in a loop until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    clients: Vec<JoinHandle<Vec<Sent>>>,
}

impl Load {
    /// Starts `clients` loops against the root at `addr`. A client stops by
    /// itself after its first UNAVAILABLE (the root is gone: sending on would
    /// only spin), so a drained root is not hammered with refused connects.
    pub fn start(addr: SocketAddr, clients: usize, query: &Query) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let clients = (0..clients)
            .map(|client| {
                let stop = Arc::clone(&stop);
                let answered = Arc::clone(&answered);
                let query = query.clone();
                tokio::spawn(
                    async move { run_client(client, addr, &query, &stop, &answered).await },
                )
            })
            .collect();
        Self {
            stop,
            answered,
            clients,
        }
    }

    /// How many calls have been answered so far.
    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }

    /// Whether every client has stopped by itself (each was refused).
    pub fn all_refused(&self) -> bool {
        self.clients.iter().all(JoinHandle::is_finished)
    }

    /// Stops every client after its current call and returns every call
    /// sent, in no particular order.
    ///
    /// # Panics
    /// When a client task panicked.
    pub async fn stop(self) -> Vec<Sent> {
        self.stop.store(true, Ordering::SeqCst);
        let mut sent = Vec::new();
        for client in self.clients {
            sent.extend(client.await.expect("a load client ran to its end"));
        }
        sent
    }
}

async fn run_client(
    client: usize,
    addr: SocketAddr,
    query: &Query,
    stop: &AtomicBool,
    answered: &AtomicUsize,
) -> Vec<Sent> {
    // One connection per client, made on first use and remade after the
    // server goes away, as a long-lived gRPC client does.
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("a loopback URI is valid")
        .connect_lazy();
    let mut root = RootClient::new(channel);
    let mut sent = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let result = root
            .query(query.request())
            .await
            .map(tonic::Response::into_inner);
        let call = Sent {
            client,
            started,
            ended: Instant::now(),
            result,
        };
        if call.result.is_ok() {
            answered.fetch_add(1, Ordering::SeqCst);
        }
        let gone = call.code() == Code::Unavailable;
        sent.push(call);
        if gone {
            break;
        }
    }
    sent
}
