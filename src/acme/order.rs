//! One order, start to finish (RFC 8555 §7.4): create it, answer each
//! pending authorization's challenge, wait for the CA to validate, send a
//! CSR for a fresh key, fetch the chain. Errors carry the CA's problem
//! document as instant-acme prints it ("API error: detail (type)").

use std::time::Duration;

use instant_acme::{Account, ChallengeType, Identifier, NewOrder, Order, OrderStatus, RetryPolicy};

use super::certs;
use super::challenge::Answering;
use super::config::{ChallengeKind, Spec};

/// How long the CA may take to validate, and then to issue.
const POLL_LIMIT: Duration = Duration::from_secs(90);

/// How an order's error begins when the CA does not know the account (RFC
/// 8555 §7.3.1: deactivated, or the CA's database reset): the caller
/// registers a new one. tern's own words, so a CA's detail text can't
/// pose as it.
pub const ACCOUNT_GONE: &str = "the CA does not know the account";

/// Whether `err` is the CA's `accountDoesNotExist` problem.
fn account_unknown(err: &instant_acme::Error) -> bool {
    matches!(err, instant_acme::Error::Api(problem)
        if problem.r#type.as_deref() == Some("urn:ietf:params:acme:error:accountDoesNotExist"))
}

/// A certificate chain and its key, both PEM.
pub struct Fresh {
    pub chain: String,
    pub key: String,
}

pub async fn run(account: &Account, spec: &Spec) -> Result<Fresh, String> {
    let identifiers: Vec<Identifier> = spec
        .domains
        .iter()
        .map(|d| Identifier::Dns(d.clone()))
        .collect();
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(|e| match account_unknown(&e) {
            true => format!("{ACCOUNT_GONE}: {}", why("new order", &e)),
            false => why("new order", &e),
        })?;
    // Answered until the CA has validated (dropped on every way out).
    let answering = answer_challenges(&mut order, spec.challenge).await?;
    let polling = RetryPolicy::new()
        .initial_delay(Duration::from_millis(200))
        .timeout(POLL_LIMIT);
    let status = order
        .poll_ready(&polling)
        .await
        .map_err(|e| why("validation", &e))?;
    if status != OrderStatus::Ready {
        return Err(challenge_problem(&mut order)
            .await
            .unwrap_or_else(|| format!("the order is {status:?}")));
    }
    drop(answering);
    let (key, csr) = certs::key_and_csr(&spec.domains)?;
    order
        .finalize_csr(&csr)
        .await
        .map_err(|e| why("finalize", &e))?;
    let chain = order
        .poll_certificate(&polling)
        .await
        .map_err(|e| why("certificate", &e))?;
    Ok(Fresh { chain, key })
}

async fn answer_challenges(
    order: &mut Order,
    kind: ChallengeKind,
) -> Result<Vec<Answering>, String> {
    let wanted = match kind {
        ChallengeKind::Http01 => ChallengeType::Http01,
        ChallengeKind::TlsAlpn01 => ChallengeType::TlsAlpn01,
    };
    let mut answering = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz.map_err(|e| why("authorization", &e))?;
        match authz.status {
            instant_acme::AuthorizationStatus::Pending => {}
            instant_acme::AuthorizationStatus::Valid => continue,
            other => {
                return Err(format!(
                    "the authorization for {} is {other:?}",
                    authz.identifier()
                ))
            }
        }
        let domain = authz.identifier().to_string();
        let mut challenge = authz
            .challenge(wanted.clone())
            .ok_or_else(|| format!("the CA offers no {} challenge for {domain}", kind.name()))?;
        let key_authorization = challenge.key_authorization();
        answering.push(match kind {
            ChallengeKind::Http01 => {
                Answering::http01(&domain, &challenge.token, key_authorization.as_str())
            }
            ChallengeKind::TlsAlpn01 => {
                let cert = certs::tls_alpn01(&domain, key_authorization.digest().as_ref())?;
                Answering::tls_alpn01(&domain, cert)
            }
        });
        challenge
            .set_ready()
            .await
            .map_err(|e| why(&format!("challenge for {domain}"), &e))?;
    }
    Ok(answering)
}

/// The problem document of the challenge that failed, if the CA says.
async fn challenge_problem(order: &mut Order) -> Option<String> {
    let mut authorizations = order.authorizations();
    while let Some(Ok(authz)) = authorizations.next().await {
        let failed = authz.challenges.iter().find_map(|c| c.error.as_ref());
        if let Some(problem) = failed {
            return Some(format!("challenge for {}: {problem}", authz.identifier()));
        }
    }
    None
}

/// `step: error: cause: cause`: hyper's errors say "client error
/// (Connect)" and keep the useful part ("Connection refused") in their
/// sources.
pub fn why(step: &str, err: &dyn std::error::Error) -> String {
    let mut text = format!("{step}: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
