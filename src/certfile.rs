//! Reading certificate and key files: whether a key matches a
//! certificate (before nginx is ever asked to load them), and when a
//! certificate expires. Pure functions over PEM text, plus thin readers.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What tenantctl needs to know about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// The DNS names it is valid for (subject alternative names).
    pub names: Vec<String>,
    /// Hex serial number, to tell a renewed certificate from the old one.
    pub serial: String,
}

/// The time `seconds` after the epoch (the epoch for negative).
pub fn epoch_of(seconds: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds.max(0) as u64)
}

/// The first certificate in a PEM chain, parsed.
pub fn cert_info(pem: &[u8]) -> Result<CertInfo, String> {
    let der =
        CertificateDer::from_pem_slice(pem).map_err(|e| format!("not a PEM certificate ({e})"))?;
    cert_info_der(der.as_ref())
}

/// A DER certificate, parsed.
pub fn cert_info_der(der: &[u8]) -> Result<CertInfo, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("not a readable X.509 certificate ({e})"))?;
    let validity = cert.validity();
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(CertInfo {
        not_before: epoch_of(validity.not_before.timestamp()),
        not_after: epoch_of(validity.not_after.timestamp()),
        names,
        serial: cert.raw_serial_as_string(),
    })
}

/// `Ok` when `key_pem` is the private key of the first certificate in
/// `cert_pem` (its public key is compared with the certificate's).
pub fn key_matches(cert_pem: &[u8], key_pem: &[u8]) -> Result<(), String> {
    let cert = CertificateDer::from_pem_slice(cert_pem)
        .map_err(|e| format!("the certificate is not a PEM certificate ({e})"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("the key is not a PEM private key (PKCS#8, RSA or EC) ({e})"))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("the key cannot be used for TLS ({e})"))?;
    let certified = rustls::sign::CertifiedKey::new(vec![cert.into_owned()], signer);
    match certified.keys_match() {
        Ok(()) => Ok(()),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err("the key does not belong to the certificate".into())
        }
        // A key kind whose public half rustls cannot derive: say nothing
        // rather than refuse a pair nginx would take.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(()),
        Err(e) => Err(format!("the certificate cannot be read ({e})")),
    }
}

/// Checks a static `tls = { certificate, key }` pair on disk.
pub fn check_pair(certificate: &Path, key: &Path) -> Result<(), String> {
    let cert = std::fs::read(certificate)
        .map_err(|e| format!("cannot read certificate {}: {e}", certificate.display()))?;
    let key_pem =
        std::fs::read(key).map_err(|e| format!("cannot read key {}: {e}", key.display()))?;
    cert_info(&cert).map_err(|e| format!("{}: {e}", certificate.display()))?;
    key_matches(&cert, &key_pem)
        .map_err(|e| format!("{} and {}: {e}", certificate.display(), key.display()))
}

/// Seconds since the epoch, for metrics and status.
pub fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_key_matches_its_own_certificate_only() {
        let (cert_a, key_a) = pair("a.example.test");
        let (_, key_b) = pair("b.example.test");
        assert_eq!(key_matches(cert_a.as_bytes(), key_a.as_bytes()), Ok(()));
        let err = key_matches(cert_a.as_bytes(), key_b.as_bytes()).unwrap_err();
        assert!(err.contains("does not belong"), "{err}");
        let err = key_matches(key_a.as_bytes(), key_a.as_bytes()).unwrap_err();
        assert!(err.contains("not a PEM certificate"), "{err}");
    }

    #[test]
    fn the_expiry_and_names_are_read() {
        let (cert, _) = pair("a.example.test");
        let info = cert_info(cert.as_bytes()).unwrap();
        assert_eq!(info.names, vec!["a.example.test".to_string()]);
        assert!(info.not_after > info.not_before);
        assert!(cert_info(b"garbage").is_err());
    }
}
