//! Access control of a deployment's prediction API: its mode (none, API key, basic) and its
//! keys.
//!
//! A key's secret is shown once, when it is created, and only its SHA-256 digest is stored
//! (secrets are 192 random bits, so a fast hash is enough: there is nothing to brute-force).
//! Checking a request hashes what it presented and compares that digest with every usable
//! key's in constant time, without stopping at the first match. Rotation creates a new key
//! under the same name and lets the old one expire after an overlap window, so clients can
//! switch without a failed request; revocation is immediate.
//!
//! In `basic` mode the user name is the key's name and the password its secret.

mod access;
pub mod people;
pub mod people_store;
mod store;

use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

pub use access::Access;
pub use people::{Grant, Permission, Principal, Role};
use store::{create_key, load_policies, load_policy, load_view, revoke_key, rotate_key, set_mode};

/// How a deployment's prediction API authenticates callers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// Anyone who can reach the node may predict.
    #[default]
    None,
    /// `Authorization: Bearer <key>` or `x-api-key: <key>`.
    ApiKey,
    /// `Authorization: Basic` with a key's name as user and its secret as password.
    Basic,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::ApiKey => "api_key",
            AuthMode::Basic => "basic",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(AuthMode::None),
            "api_key" | "api-key" => Ok(AuthMode::ApiKey),
            "basic" => Ok(AuthMode::Basic),
            other => Err(Error::InvalidInput(format!("unknown auth mode '{other}': use none, api_key or basic"))),
        }
    }

    /// The scheme a `WWW-Authenticate` challenge names.
    pub fn challenge(self) -> &'static str {
        match self {
            AuthMode::Basic => "Basic realm=\"switchyard\"",
            _ => "Bearer realm=\"switchyard\"",
        }
    }
}

/// Where a key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    /// Rotated: still accepted until `expires_at`.
    Expiring,
    Expired,
    Revoked,
}

/// A key as lists show it: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: i64,
    /// Who or what uses it (the user name in basic mode).
    pub name: String,
    /// The secret's first characters, to tell keys apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub status: KeyStatus,
}

/// A key just created: the only time its secret is visible.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewKey {
    pub key: ApiKey,
    pub secret: String,
}

/// A deployment's access settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessView {
    pub service: String,
    pub mode: AuthMode,
    pub keys: Vec<ApiKey>,
    /// Requests refused for missing or wrong credentials since the node started.
    pub failures: u64,
}

/// The longest overlap a rotation may grant.
pub const MAX_OVERLAP: Duration = Duration::from_secs(30 * 24 * 3600);
/// The longest key name.
const MAX_NAME: usize = 64;
const SECRET_PREFIX: &str = "sy_";
/// Characters of the secret kept for display (including `sy_`).
const SHOWN: usize = 9;

/// Credentials a client sends (run-and-test, the CLI's `predict`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ClientCredential {
    /// Sent as `Authorization: Bearer <key>`.
    ApiKey { key: String },
    /// Sent as `Authorization: Basic`: the key's name and its secret.
    Basic { user: String, password: String },
}

/// What a request presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    None,
    /// A bearer token or `x-api-key`.
    Key(String),
    Basic {
        user: String,
        password: String,
    },
    /// An `Authorization` header this node cannot read.
    Unreadable(String),
}

impl Credential {
    /// Reads the credential from the `Authorization` and `x-api-key` header values.
    pub fn from_headers(authorization: Option<&[u8]>, api_key: Option<&[u8]>) -> Credential {
        if let Some(raw) = authorization {
            let Ok(value) = std::str::from_utf8(raw) else {
                return Credential::Unreadable("the Authorization header is not valid UTF-8".into());
            };
            let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
            let rest = rest.trim();
            if scheme.eq_ignore_ascii_case("bearer") {
                return Credential::Key(rest.to_owned());
            }
            if scheme.eq_ignore_ascii_case("basic") {
                let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest) else {
                    return Credential::Unreadable("the Basic credentials are not valid base64".into());
                };
                let Ok(text) = String::from_utf8(decoded) else {
                    return Credential::Unreadable("the Basic credentials are not valid UTF-8".into());
                };
                return match text.split_once(':') {
                    Some((user, password)) => {
                        Credential::Basic { user: user.to_owned(), password: password.to_owned() }
                    }
                    None => Credential::Unreadable("the Basic credentials need 'user:password'".into()),
                };
            }
            return Credential::Unreadable(format!("unsupported Authorization scheme '{scheme}'"));
        }
        match api_key.map(std::str::from_utf8) {
            Some(Ok(key)) => Credential::Key(key.trim().to_owned()),
            Some(Err(_)) => Credential::Unreadable("the x-api-key header is not valid UTF-8".into()),
            None => Credential::None,
        }
    }
}

/// One key as the request path checks it.
#[derive(Debug, Clone)]
pub(crate) struct KeyDigest {
    pub name: String,
    pub digest: [u8; 32],
    /// Unix ms after which it is refused (a rotated key); None: until revoked.
    pub expires_at_ms: Option<i64>,
}

/// A deployment's mode and its unrevoked keys, held in memory for the request path.
#[derive(Debug, Clone, Default)]
pub(crate) struct Policy {
    pub mode: AuthMode,
    pub keys: Vec<KeyDigest>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub mode: AuthMode,
    pub message: String,
}

impl Policy {
    /// Whether `credential` may use the deployment at `now_ms`.
    pub fn check(&self, credential: &Credential, now_ms: i64) -> Result<(), Denied> {
        let deny = |message: String| Err(Denied { mode: self.mode, message });
        let usable = |k: &&KeyDigest| k.expires_at_ms.is_none_or(|at| now_ms < at);
        match (self.mode, credential) {
            (AuthMode::None, _) => Ok(()),
            (_, Credential::Unreadable(why)) => deny(why.clone()),
            (AuthMode::ApiKey, Credential::Key(key)) => {
                if matches_any(self.keys.iter().filter(usable), key) {
                    Ok(())
                } else {
                    deny("the API key is not valid for this deployment (revoked, expired or mistyped)".into())
                }
            }
            (AuthMode::ApiKey, _) => deny(
                "this deployment requires an API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'".into(),
            ),
            (AuthMode::Basic, Credential::Basic { user, password }) => {
                if matches_any(self.keys.iter().filter(usable).filter(|k| k.name == *user), password) {
                    Ok(())
                } else {
                    deny("the user name or password is not valid for this deployment".into())
                }
            }
            (AuthMode::Basic, _) => deny(
                "this deployment requires basic authentication: the key's name as user and its secret as password"
                    .into(),
            ),
        }
    }
}

/// Compares the secret's digest with every key's, in constant time per key and without
/// stopping at a match.
fn matches_any<'a>(keys: impl Iterator<Item = &'a KeyDigest>, secret: &str) -> bool {
    let digest = digest(secret);
    let mut found = subtle::Choice::from(0);
    for key in keys {
        found |= key.digest.ct_eq(&digest);
    }
    found.into()
}

pub(crate) fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Constant-time equality of two secrets (the admin token).
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A new secret: `sy_` and 192 random bits in URL-safe base64.
pub(crate) fn new_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill(&mut bytes);
    format!("{SECRET_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

pub(crate) fn shown_prefix(secret: &str) -> String {
    secret.chars().take(SHOWN).collect()
}

/// Checks a key name: 1–64 visible characters, no ':' (basic auth separates user and
/// password with it).
pub(crate) fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(Error::InvalidName(format!("a key name must have 1 to {MAX_NAME} characters")));
    }
    if name.contains(':') || name.chars().any(char::is_control) {
        return Err(Error::InvalidName(format!(
            "key name '{}' may not contain ':' or control characters (basic auth uses it as the user name)",
            name.escape_default()
        )));
    }
    Ok(name.to_owned())
}

pub(crate) fn status_at(expires_at_ms: Option<i64>, revoked: bool, now_ms: i64) -> KeyStatus {
    match (revoked, expires_at_ms) {
        (true, _) => KeyStatus::Revoked,
        (false, Some(at)) if at <= now_ms => KeyStatus::Expired,
        (false, Some(_)) => KeyStatus::Expiring,
        (false, None) => KeyStatus::Active,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(mode: AuthMode, keys: &[(&str, &str, Option<i64>)]) -> Policy {
        Policy {
            mode,
            keys: keys
                .iter()
                .map(|(name, secret, exp)| KeyDigest {
                    name: (*name).into(),
                    digest: digest(secret),
                    expires_at_ms: *exp,
                })
                .collect(),
        }
    }

    fn basic(user: &str, password: &str) -> Vec<u8> {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))).into_bytes()
    }

    #[test]
    fn headers_are_read_as_the_schemes_say() {
        assert_eq!(Credential::from_headers(None, None), Credential::None);
        assert_eq!(Credential::from_headers(Some(b"Bearer sy_abc"), None), Credential::Key("sy_abc".into()));
        assert_eq!(Credential::from_headers(Some(b"bearer  sy_abc "), None), Credential::Key("sy_abc".into()));
        assert_eq!(Credential::from_headers(None, Some(b"sy_k")), Credential::Key("sy_k".into()));
        assert_eq!(
            Credential::from_headers(Some(&basic("ci", "p:w")), None),
            Credential::Basic { user: "ci".into(), password: "p:w".into() }
        );
        for bad in [&b"Basic !!!"[..], b"Digest x", b"Basic \xff", &[0xff, 0xfe]] {
            assert!(matches!(Credential::from_headers(Some(bad), None), Credential::Unreadable(_)), "{bad:?}");
        }
        let no_colon = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("nocolon"));
        assert!(matches!(Credential::from_headers(Some(no_colon.as_bytes()), None), Credential::Unreadable(_)));
    }

    #[test]
    fn modes_accept_only_their_credentials() {
        let keys = [("ci", "sy_one", None), ("web", "sy_two", Some(1_000))];
        let open = policy(AuthMode::None, &keys);
        assert!(open.check(&Credential::None, 0).is_ok());

        let api = policy(AuthMode::ApiKey, &keys);
        assert!(api.check(&Credential::Key("sy_one".into()), 0).is_ok());
        assert!(api.check(&Credential::Key("sy_two".into()), 999).is_ok());
        assert!(api.check(&Credential::Key("sy_two".into()), 1_000).is_err(), "expired at 1000");
        assert!(api.check(&Credential::Key("sy_on".into()), 0).is_err());
        assert!(api.check(&Credential::None, 0).is_err());
        let denied =
            api.check(&Credential::Basic { user: "ci".into(), password: "sy_one".into() }, 0).expect_err("refused");
        assert_eq!(denied.mode, AuthMode::ApiKey);
        assert!(denied.message.contains("Bearer"), "{}", denied.message);

        let basic = policy(AuthMode::Basic, &keys);
        assert!(basic.check(&Credential::Basic { user: "ci".into(), password: "sy_one".into() }, 0).is_ok());
        assert!(basic.check(&Credential::Basic { user: "web".into(), password: "sy_one".into() }, 0).is_err());
        assert!(basic.check(&Credential::Key("sy_one".into()), 0).is_err());
        assert!(basic.check(&Credential::Unreadable("x".into()), 0).is_err());
    }

    #[test]
    fn secrets_are_random_prefixed_and_url_safe() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a, b);
        assert!(a.starts_with("sy_") && a.len() == 3 + 32, "{a}");
        assert!(a[3..].chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(shown_prefix(&a).len(), SHOWN);
        assert!(same_secret(a.as_bytes(), a.as_bytes()));
        assert!(!same_secret(a.as_bytes(), b.as_bytes()));
        assert!(!same_secret(b"abc", b"abcd"));
    }

    #[test]
    fn names_and_statuses() {
        assert_eq!(check_name(" ci ").expect("valid"), "ci");
        for bad in ["", "a:b", "x\ny", &"n".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(status_at(None, false, 5), KeyStatus::Active);
        assert_eq!(status_at(Some(10), false, 5), KeyStatus::Expiring);
        assert_eq!(status_at(Some(10), false, 10), KeyStatus::Expired);
        assert_eq!(status_at(None, true, 5), KeyStatus::Revoked);
        for mode in [AuthMode::None, AuthMode::ApiKey, AuthMode::Basic] {
            assert_eq!(AuthMode::parse(mode.as_str()).expect("parses"), mode);
        }
        assert!(AuthMode::parse("oauth").is_err());
    }
}
