//! The HTTP client that talks to the CA: instant-acme's own choice (hyper
//! with rustls, HTTP/1.1 or HTTP/2, HTTPS only), with a bound on every
//! request. instant-acme sets none, so a CA that takes the connection and
//! never answers would hold its order until the order's own limit; bounded,
//! the order fails with a message naming the request, and is retried.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use instant_acme::{Account, AccountBuilder, BodyWrapper, BytesResponse, Error, HttpClient};
use rustls::ClientConfig;

/// How long one request may take, its response body included (certbot
/// gives a request 45 s).
const REQUEST_LIMIT: Duration = Duration::from_secs(30);
/// Tests only: this many seconds instead, so a test of a CA that hangs
/// sees the order fail soon.
const REQUEST_ENV: &str = "TERN_ACME_TEST_REQUEST_SECONDS";

type Hyper = Client<HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>;

/// Sends each request with hyper, within `limit`.
struct Bounded {
    hyper: Hyper,
    limit: Duration,
}

impl HttpClient for Bounded {
    fn request(
        &self,
        request: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, Error>> + Send>> {
        let what = format!("{} {}", request.method(), request.uri());
        let sent = HttpClient::request(&self.hyper, request);
        let limit = self.limit;
        Box::pin(async move {
            // The body is read here, within the bound, too: instant-acme
            // reads it later, unbounded.
            let exchange = async {
                let mut response = sent.await?;
                let body = response.body.into_bytes().await.map_err(Error::Other)?;
                Ok(BytesResponse {
                    parts: response.parts,
                    body: Box::new(body),
                })
            };
            match tokio::time::timeout(limit, exchange).await {
                Ok(outcome) => outcome,
                Err(_) => Err(Error::Other(
                    format!("the CA did not answer {what} within {} s", limit.as_secs()).into(),
                )),
            }
        })
    }
}

/// An account builder whose requests are bounded, trusting `ca` for the
/// CA's HTTPS (else the system's verifier, as `Account::builder` does).
pub fn account_builder(ca: Option<&Path>) -> Result<AccountBuilder, String> {
    let https = HttpsConnectorBuilder::new();
    let https = match ca {
        Some(ca) => https.with_tls_config(trusting(ca)?),
        None => https
            .try_with_platform_verifier()
            .map_err(|e| format!("HTTP client: {e}"))?,
    };
    let connector = https.https_only().enable_http1().enable_http2().build();
    let hyper = Client::builder(TokioExecutor::new()).build(connector);
    Ok(Account::builder_with_http(Box::new(Bounded {
        hyper,
        limit: request_limit(),
    })))
}

fn request_limit() -> Duration {
    std::env::var(REQUEST_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(REQUEST_LIMIT, Duration::from_secs)
}

/// A client configuration trusting the certificates in the PEM file `ca`.
fn trusting(ca: &Path) -> Result<ClientConfig, String> {
    let problem = |e: &dyn std::fmt::Display| format!("HTTP client: {e}");
    let roots = crate::operator_file::ca_roots(ca).map_err(|e| problem(&e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| problem(&e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
