//! One certificate from the CA through HTTP-01: the account (its key kept
//! in `account_key`), an order for the domain, the challenge answered from
//! the webroot nginx serves, the key and CSR made here, the chain fetched.

use crate::desired::AcmeSpec;
use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, Key, NewOrder, OrderStatus,
    RetryPolicy,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::time::Duration;

/// Bounds every wait on the CA (validation, issuance).
const POLL: RetryPolicy = RetryPolicy::new()
    .initial_delay(Duration::from_millis(250))
    .backoff(1.5)
    .timeout(Duration::from_secs(60));

/// The account key from `account_key`, made (P-256, mode 0600) if absent.
fn account_key(spec: &AcmeSpec) -> Result<(Key, PrivateKeyDer<'static>), String> {
    let path = &spec.account_key;
    let der = match std::fs::read(path) {
        Ok(pem) => PrivatePkcs8KeyDer::from_pem_slice(&pem)
            .map_err(|e| format!("account_key {}: not a PKCS#8 PEM key ({e})", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let pair = rcgen::KeyPair::generate()
                .map_err(|e| format!("cannot make an account key: {e}"))?;
            super::store::write_atomic(path, pair.serialize_pem().as_bytes(), 0o600)
                .map_err(|e| format!("cannot write account_key {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), "made a new ACME account key");
            PrivatePkcs8KeyDer::from(pair.serialize_der())
        }
        Err(e) => return Err(format!("cannot read account_key {}: {e}", path.display())),
    };
    let key = Key::from_pkcs8_der(der.clone_key())
        .map_err(|e| format!("account_key {}: {e}", path.display()))?;
    Ok((key, PrivateKeyDer::Pkcs8(der)))
}

/// The ACME account for `spec` (registered on first use, found again
/// afterwards by its key).
pub async fn account(spec: &AcmeSpec) -> Result<Account, String> {
    let key = account_key(spec)?;
    let builder = match &spec.directory_ca {
        Some(ca) => Account::builder_with_root(ca),
        None => Account::builder(),
    }
    .map_err(|e| format!("cannot make an HTTPS client for the CA: {e}"))?;
    let (account, _) = builder
        .create_from_key(key, spec.directory.clone())
        .await
        .map_err(|e| format!("ACME account at {}: {e}", spec.directory))?;
    if let Some(email) = &spec.email {
        let contact = format!("mailto:{email}");
        if let Err(e) = account.update_contacts(&[contact.as_str()]).await {
            tracing::warn!(error = %e, "cannot set the ACME account's email");
        }
    }
    Ok(account)
}

/// A certificate chain and its private key (PEM) for `domain`.
pub struct Issued {
    pub chain_pem: String,
    pub key_pem: String,
}

/// Orders a certificate for `domain`; the challenge token is served from
/// the webroot while the CA validates, and removed afterwards.
pub async fn obtain(account: &Account, spec: &AcmeSpec, domain: &str) -> Result<Issued, String> {
    let ids = [Identifier::Dns(domain.to_string())];
    let mut order = account
        .new_order(&NewOrder::new(&ids))
        .await
        .map_err(|e| format!("new order: {e}"))?;
    let challenge_dir = spec.webroot().join(".well-known/acme-challenge");
    let mut tokens = Vec::new();
    let result = async {
        let mut authorizations = order.authorizations();
        while let Some(auth) = authorizations.next().await {
            let mut auth = auth.map_err(|e| format!("authorization: {e}"))?;
            match auth.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => return Err(format!("authorization is {other:?}")),
            }
            let mut challenge = auth
                .challenge(ChallengeType::Http01)
                .ok_or("the CA offers no HTTP-01 challenge")?;
            let token = challenge.token.clone();
            if token.is_empty()
                || !token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!("the CA sent an unusable challenge token `{token}`"));
            }
            let answer = challenge.key_authorization();
            super::store::write_atomic(
                &challenge_dir.join(&token),
                answer.as_str().as_bytes(),
                0o644,
            )
            .map_err(|e| {
                format!(
                    "cannot write the challenge into {}: {e}",
                    challenge_dir.display()
                )
            })?;
            tokens.push(token);
            challenge
                .set_ready()
                .await
                .map_err(|e| format!("challenge: {e}"))?;
        }
        match order
            .poll_ready(&POLL)
            .await
            .map_err(|e| format!("validation: {e}"))?
        {
            OrderStatus::Ready => {}
            status => return Err(validation_error(&mut order, status).await),
        }
        let key_pem = order
            .finalize()
            .await
            .map_err(|e| format!("finalize: {e}"))?;
        let chain_pem = order
            .poll_certificate(&POLL)
            .await
            .map_err(|e| format!("certificate: {e}"))?;
        Ok(Issued { chain_pem, key_pem })
    }
    .await;
    for token in tokens {
        let _ = std::fs::remove_file(challenge_dir.join(token));
    }
    result
}

/// Why validation failed, from the challenges' errors (the CA's own words:
/// "DNS problem: NXDOMAIN", "connection refused", …).
async fn validation_error(order: &mut instant_acme::Order, status: OrderStatus) -> String {
    let mut reasons = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(auth)) = authorizations.next().await {
        for c in &auth.challenges {
            if let Some(problem) = &c.error {
                reasons.push(problem.to_string());
            }
        }
    }
    if reasons.is_empty() {
        format!("the order is {status:?}")
    } else {
        format!("validation failed: {}", reasons.join("; "))
    }
}
