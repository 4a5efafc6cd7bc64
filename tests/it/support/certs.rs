//! Certificates made at test time: a private authority (rcgen) that issues
//! server certificates, as PEM files for the server or as a ready TLS
//! acceptor, and TLS client settings that trust it alone.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use super::TempDir;

/// A private certificate authority, made at test time.
pub struct Authority {
    /// The authority's certificate, as `--ca` reads it.
    pub pem: String,
    der: CertificateDer<'static>,
    issuer: rcgen::Issuer<'static, KeyPair>,
}

/// A server certificate and its key, issued by an [`Authority`].
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

/// How long an issued certificate is valid.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// From long ago to far in the future.
    Current,
    /// Only during 2019.
    Expired,
}

impl Authority {
    pub fn new() -> Self {
        Self::with_key(KeyPair::generate().expect("generating the authority's key"))
    }

    /// An authority with the same name as every other ([`Authority::new`]'s)
    /// but a key of its own, of the algorithm `alg`: what a client meets
    /// when a trusted certificate has the name of the server's issuer (as
    /// Debian's snakeoil certificate, `CN=localhost`, may).
    pub fn impostor(alg: &'static rcgen::SignatureAlgorithm) -> Self {
        Self::with_key(KeyPair::generate_for(alg).expect("generating the impostor's key"))
    }

    fn with_key(key: KeyPair) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names is valid");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "chat test authority");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::CrlSign,
        ];
        let cert = params
            .self_signed(&key)
            .expect("self-signing the authority");
        Self {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A server certificate for `names` (host names or IP addresses) only.
    pub fn issue(&self, names: &[&str], validity: Validity) -> Issued {
        let names: Vec<String> = names.iter().map(|&name| name.to_owned()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("valid names");
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].as_str());
        params.use_authority_key_identifier_extension = true;
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
        if validity == Validity::Expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        let key = KeyPair::generate().expect("generating the server's key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("issuing the server's certificate");
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    /// A TLS acceptor whose certificate, issued by this authority, is valid
    /// for `names` (host names or IP addresses) only.
    pub fn acceptor(&self, names: &[&str]) -> TlsAcceptor {
        let issued = self.issue(names, Validity::Current);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![issued.cert_der],
                PrivatePkcs8KeyDer::from(issued.key_der).into(),
            )
            .expect("a valid certificate and key");
        TlsAcceptor::from(Arc::new(config))
    }

    /// TLS client settings that trust this authority and nothing else, as
    /// a program other than our client would set them up.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.der.clone())
            .expect("the authority is a valid root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    /// A tokio-websockets connector for `wss://` that trusts this authority.
    pub fn connector(&self) -> tokio_websockets::Connector {
        tokio_websockets::Connector::Rustls(tokio_rustls::TlsConnector::from(self.client_config()))
    }
}

/// A self-signed server certificate for `names`, as `openssl req -x509`
/// makes for a LAN: marked as an authority (openssl's default) when `is_ca`.
pub fn self_signed(names: &[&str], is_ca: bool) -> Issued {
    let names: Vec<String> = names.iter().map(|&name| name.to_owned()).collect();
    let mut params = CertificateParams::new(names.clone()).expect("valid names");
    params
        .distinguished_name
        .push(DnType::CommonName, names[0].as_str());
    params.is_ca = if is_ca {
        IsCa::Ca(BasicConstraints::Unconstrained)
    } else {
        IsCa::ExplicitNoCa
    };
    let key = KeyPair::generate().expect("generating the key");
    let cert = params.self_signed(&key).expect("self-signing");
    Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().clone(),
        key_der: key.serialize_der(),
    }
}

impl Issued {
    /// Writes the certificate and key as `cert.pem` and `key.pem` in `dir`,
    /// and returns their paths.
    pub fn write_to(&self, dir: &TempDir) -> (String, String) {
        (
            dir.write("cert.pem", &self.cert_pem),
            dir.write("key.pem", &self.key_pem),
        )
    }
}
