//! The console's own MLflow connection (Settings → MLflow), kept in the data dir as
//! `mlflow.json`, readable by its owner only: the tracking server and its credentials. A
//! node started with `--mlflow-uri` or `MLFLOW_TRACKING_URI` uses that instead and ignores
//! the file.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Connection, Credentials, MlflowError};

pub const SETTINGS_FILE: &str = "mlflow.json";

/// How the node reaches MLflow, as the console shows it: never a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MlflowSettings {
    /// The tracking server, or None when none is configured.
    pub uri: Option<String>,
    pub auth: MlflowAuth,
    /// The user name of basic auth.
    pub username: Option<String>,
    /// Where the connection comes from: set at start (flag or environment: the console cannot
    /// change it), saved from the console, or none.
    pub source: MlflowSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MlflowAuth {
    None,
    Token,
    Basic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MlflowSource {
    Start,
    Console,
    None,
}

impl MlflowSettings {
    pub fn of(connection: Option<&Connection>, source: MlflowSource) -> MlflowSettings {
        let (auth, username) = match connection.map(|c| &c.credentials) {
            None | Some(Credentials::None) => (MlflowAuth::None, None),
            Some(Credentials::Token(_)) => (MlflowAuth::Token, None),
            Some(Credentials::Basic { username, .. }) => (MlflowAuth::Basic, Some(username.clone())),
        };
        let source = if connection.is_some() { source } else { MlflowSource::None };
        MlflowSettings { uri: connection.map(|c| c.uri.clone()), auth, username, source }
    }
}

/// What the console sends to connect: the tracking server's URL and how to sign in.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct MlflowConnect {
    pub uri: String,
    pub auth: MlflowAuth,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

impl MlflowConnect {
    /// The connection, or what is wrong with the form.
    pub fn connection(&self) -> Result<Connection, MlflowError> {
        let uri = self.uri.trim().trim_end_matches('/');
        let parsed = url::Url::parse(uri)
            .map_err(|e| MlflowError::BadUri(format!("'{uri}' is not a URL ({e}): write http://HOST:PORT")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(MlflowError::BadUri(format!("'{uri}' is not an http:// or https:// URL of a tracking server")));
        }
        let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        let credentials = match self.auth {
            MlflowAuth::None => Credentials::None,
            MlflowAuth::Token => Credentials::Token(
                given(&self.token).ok_or_else(|| MlflowError::BadUri("token sign-in needs the token".into()))?,
            ),
            MlflowAuth::Basic => Credentials::Basic {
                username: given(&self.username)
                    .ok_or_else(|| MlflowError::BadUri("basic sign-in needs a user name".into()))?,
                password: self.password.clone().unwrap_or_default(),
            },
        };
        Ok(Connection { uri: uri.to_owned(), credentials })
    }
}

#[derive(Serialize, Deserialize)]
struct Saved {
    uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

/// The connection saved in `dir`, if any. An unreadable file is reported, not ignored.
pub fn load(dir: &Path) -> std::io::Result<Option<Connection>> {
    let path = dir.join(SETTINGS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let saved: Saved = serde_json::from_str(&text)
        .map_err(|e| std::io::Error::other(format!("{} is not a saved MLflow connection: {e}", path.display())))?;
    let credentials = match (saved.token, saved.username) {
        (Some(token), _) => Credentials::Token(token),
        (None, Some(username)) => Credentials::Basic { username, password: saved.password.unwrap_or_default() },
        (None, None) => Credentials::None,
    };
    Ok(Some(Connection { uri: saved.uri, credentials }))
}

/// Saves the connection in `dir` (owner-only: it may hold a token), or removes it (None).
/// Written to a temporary file and renamed, so a crash leaves the old one or the new one.
pub fn save(dir: &Path, connection: Option<&Connection>) -> std::io::Result<()> {
    let path = dir.join(SETTINGS_FILE);
    let Some(c) = connection else {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    };
    let (token, username, password) = match &c.credentials {
        Credentials::None => (None, None, None),
        Credentials::Token(t) => (Some(t.clone()), None, None),
        Credentials::Basic { username, password } => (None, Some(username.clone()), Some(password.clone())),
    };
    let text = serde_json::to_vec_pretty(&Saved { uri: c.uri.clone(), token, username, password })
        .map_err(std::io::Error::other)?;
    let tmp = dir.join(format!("{SETTINGS_FILE}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(&text)?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(auth: MlflowAuth, token: Option<&str>, username: Option<&str>) -> MlflowConnect {
        MlflowConnect {
            uri: "http://mlflow:5000/".into(),
            auth,
            token: token.map(Into::into),
            username: username.map(Into::into),
            password: Some("pw".into()),
        }
    }

    #[test]
    fn a_form_becomes_a_connection_or_says_what_is_missing() {
        let c = connect(MlflowAuth::Token, Some("t0k"), None).connection().expect("token");
        assert_eq!((c.uri.as_str(), c.credentials), ("http://mlflow:5000", Credentials::Token("t0k".into())));
        let c = connect(MlflowAuth::Basic, None, Some("ana")).connection().expect("basic");
        assert_eq!(c.credentials, Credentials::Basic { username: "ana".into(), password: "pw".into() });
        assert!(connect(MlflowAuth::Token, Some(" "), None).connection().is_err());
        assert!(connect(MlflowAuth::Basic, None, None).connection().is_err());
        for bad in ["mlflow:5000", "ftp://mlflow", "", "http://"] {
            let form = MlflowConnect { uri: bad.into(), ..connect(MlflowAuth::None, None, None) };
            assert!(matches!(form.connection(), Err(MlflowError::BadUri(_))), "{bad}");
        }
    }

    #[test]
    fn saved_connections_read_back_owner_only_and_settings_show_no_secret() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(load(dir.path()).expect("none yet"), None);
        let c = Connection {
            uri: "http://m:5000".into(),
            credentials: Credentials::Basic { username: "ana".into(), password: "s3cret".into() },
        };
        save(dir.path(), Some(&c)).expect("save");
        assert_eq!(load(dir.path()).expect("load"), Some(c.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SETTINGS_FILE)).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
        let shown = serde_json::to_string(&MlflowSettings::of(Some(&c), MlflowSource::Console)).expect("json");
        assert!(shown.contains("\"username\":\"ana\"") && !shown.contains("s3cret"), "{shown}");
        save(dir.path(), None).expect("remove");
        assert_eq!(load(dir.path()).expect("gone"), None);
        std::fs::write(dir.path().join(SETTINGS_FILE), "{").expect("write");
        assert!(load(dir.path()).is_err());
    }
}
