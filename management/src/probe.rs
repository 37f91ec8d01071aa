//! Asking another Scatter process whether it takes work: the client side of
//! the health interface, used by runtimes waiting for a child, by tests, and
//! by `--probe`, the health check a container engine runs inside a
//! container whose image has no shell and no client (`FROM scratch`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Whether the process at `uri` (`http://host:port`) answers gRPC health
/// with SERVING; `false` when it is unreachable or says anything else.
pub async fn is_serving(uri: &str) -> bool {
    match Endpoint::from_shared(uri.to_owned()) {
        Ok(endpoint) => is_serving_at(endpoint).await,
        Err(_) => false,
    }
}

/// Like [`is_serving`], over an endpoint the caller built (e.g. an
/// `https://` one with [`crate::client_tls`]).
pub async fn is_serving_at(endpoint: Endpoint) -> bool {
    let Ok(channel) = endpoint
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
    else {
        return false;
    };
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32)
}

/// `--probe`: asks the process serving on `listen` — this same process's
/// configuration, run again as a health check — for its gRPC health, and
/// exits 0 when it says SERVING, 1 otherwise, with a line saying which. An
/// unspecified `listen` (`0.0.0.0`) is dialled on loopback. Over TLS
/// (`tls`) the probe cannot present the caller certificate a mutual-TLS
/// port asks for, so it checks that the port accepts connections.
pub fn exit_with_health(listen: SocketAddr, tls: bool) -> ! {
    let target = SocketAddr::new(
        match listen.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        },
        listen.port(),
    );
    // A runtime of its own, on a thread of its own: the caller may be
    // inside one already (a `#[tokio::main]` reading its flags).
    let check = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        runtime.is_ok_and(|runtime| {
            runtime.block_on(async {
                if tls {
                    let connect = tokio::net::TcpStream::connect(target);
                    matches!(
                        tokio::time::timeout(Duration::from_secs(2), connect).await,
                        Ok(Ok(_))
                    )
                } else {
                    is_serving(&format!("http://{target}")).await
                }
            })
        })
    });
    let healthy = check.join().unwrap_or(false);
    if healthy {
        println!("{target}: SERVING");
        std::process::exit(0);
    }
    println!("{target}: not serving");
    std::process::exit(1);
}
