//! `POST /hooks/git`: GitHub/Gitea push webhooks. A request is accepted
//! only with a valid `X-Hub-Signature-256: sha256=<hex>` HMAC-SHA256 of
//! the exact body under the shared secret; then an immediate pull is
//! requested. Anything else gets 401 and changes nothing.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Whether `header` is `sha256=<hex HMAC of body under secret>`; compared in
/// constant time.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Some(expected) = decode_hex(hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// `sha256=<hex>` for `body` under `secret` (what a git host sends).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any size");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_made_with_the_secret_verifies_and_others_do_not() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = sign(b"s3cret", body);
        assert!(verify(b"s3cret", body, Some(&good)));
        assert!(!verify(b"other", body, Some(&good)));
        assert!(!verify(b"s3cret", b"tampered", Some(&good)));
        assert!(!verify(b"s3cret", body, None));
        assert!(!verify(b"s3cret", body, Some("sha256=zz")));
        assert!(!verify(
            b"s3cret",
            body,
            Some(good.trim_start_matches("sha256="))
        ));
    }

    #[test]
    fn github_documented_example_verifies() {
        // From GitHub's "Validating webhook deliveries" documentation.
        assert!(verify(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
        ));
    }
}
