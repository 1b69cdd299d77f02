//! Principals of the admin API: named people or systems with roles, optionally scoped to
//! services by a glob (`deployer` on `churn_*`), and their tokens.
//!
//! A role is a set of [`Permission`]s; every admin route declares the one it needs
//! (`node/admin.rs`), and [`Principal::allows`] decides. Tokens are stored like API keys: the
//! secret is shown once, only its SHA-256 digest is kept, and it can expire or be revoked.
//! The node's admin token stays the bootstrap principal [`BOOTSTRAP_ADMIN`]; the desktop acts
//! as a local admin named after the OS user.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The principal the node's admin token (`serve --admin-token-file`) stands for, and the
/// caller of a loopback node that has no admin token.
pub const BOOTSTRAP_ADMIN: &str = "admin";
/// The longest principal name.
const MAX_NAME: usize = 64;
/// The longest scope glob.
const MAX_SCOPE: usize = 128;
/// The scope of a grant on every service.
pub const EVERY_SERVICE: &str = "*";

/// What a principal may be allowed to do. Each admin route needs exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read everything except secrets.
    Read,
    /// Deploy, roll back, run canaries, request approvals, run scenarios.
    Deploy,
    /// Services, versions, auth modes and keys, scenarios without commands, protection.
    Manage,
    /// Approve or reject another principal's approval request.
    Approve,
    /// Save or run scenarios with `run_command` steps.
    RunCommands,
    /// Principals, their roles and tokens; node settings.
    Users,
}

impl Permission {
    pub const ALL: [Permission; 6] = [
        Permission::Read,
        Permission::Deploy,
        Permission::Manage,
        Permission::Approve,
        Permission::RunCommands,
        Permission::Users,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Deploy => "deploy",
            Permission::Manage => "manage",
            Permission::Approve => "approve",
            Permission::RunCommands => "run_commands",
            Permission::Users => "users",
        }
    }

    /// Whether the permission can be scoped to services: `run_commands` and `users` act on the
    /// whole node, so only an unscoped grant gives them.
    pub fn scoped(self) -> bool {
        !matches!(self, Permission::RunCommands | Permission::Users)
    }
}

/// A role: a fixed set of permissions, each including the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything except secrets.
    Viewer,
    /// Viewer, plus deploy, roll back, canaries, scenario runs.
    Deployer,
    /// Deployer, plus services, versions, auth keys, protection, approvals.
    Operator,
    /// Everything: commands, principals, node settings.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Deployer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Deployer => "deployer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s.trim()).ok_or_else(|| {
            Error::InvalidInput(format!(
                "unknown role '{}': use viewer, deployer, operator or admin",
                s.chars().take(32).collect::<String>()
            ))
        })
    }

    pub fn permits(self, permission: Permission) -> bool {
        use Permission as P;
        match self {
            Role::Viewer => permission == P::Read,
            Role::Deployer => matches!(permission, P::Read | P::Deploy),
            Role::Operator => matches!(permission, P::Read | P::Deploy | P::Manage | P::Approve),
            Role::Admin => true,
        }
    }
}

/// A role on the services matching `scope` (`*`: every service).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grant {
    pub role: Role,
    /// A glob on service names (`churn_*`), or `*` for every service.
    #[serde(default = "every_service")]
    pub scope: String,
}

fn every_service() -> String {
    EVERY_SERVICE.to_owned()
}

impl Grant {
    pub fn everywhere(role: Role) -> Grant {
        Grant { role, scope: every_service() }
    }

    /// Parses `role` or `role:glob` (the CLI's `--role deployer:churn_*`).
    pub fn parse(text: &str) -> Result<Grant> {
        let (role, scope) = text.split_once(':').unwrap_or((text, EVERY_SERVICE));
        let grant = Grant { role: Role::parse(role)?, scope: scope.trim().to_owned() };
        grant.check()?;
        Ok(grant)
    }

    /// The scope must be a glob of 1 to 128 characters that `glob` accepts.
    pub fn check(&self) -> Result<()> {
        let bad = |why: String| Err(Error::InvalidInput(format!("scope '{}' {why}", self.scope.escape_default())));
        if self.scope.is_empty() || self.scope.chars().count() > MAX_SCOPE {
            return bad(format!("must have 1 to {MAX_SCOPE} characters (use * for every service)"));
        }
        if self.scope.chars().any(char::is_control) {
            return bad("may not contain control characters".into());
        }
        if let Err(e) = glob::Pattern::new(&self.scope) {
            return bad(format!("is not a glob: {e}"));
        }
        Ok(())
    }

    pub fn is_everywhere(&self) -> bool {
        self.scope == EVERY_SERVICE
    }

    /// Whether the grant covers `service`.
    pub fn covers(&self, service: &str) -> bool {
        self.is_everywhere() || glob::Pattern::new(&self.scope).is_ok_and(|p| p.matches(service))
    }
}

impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_everywhere() {
            f.write_str(self.role.as_str())
        } else {
            write!(f, "{}:{}", self.role.as_str(), self.scope)
        }
    }
}

/// Who is calling, with what they may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Principal {
    pub name: String,
    pub grants: Vec<Grant>,
}

impl Principal {
    /// An admin on every service (the bootstrap admin, the desktop's local user).
    pub fn admin(name: &str) -> Principal {
        Principal { name: name.to_owned(), grants: vec![Grant::everywhere(Role::Admin)] }
    }

    /// Whether the principal has `permission`, on `service` when the action concerns one.
    /// Without a service, only an unscoped grant gives a permission, except `read`, which
    /// any grant gives (a scoped viewer may list the services).
    pub fn allows(&self, permission: Permission, service: Option<&str>) -> bool {
        self.grants.iter().any(|g| {
            g.role.permits(permission)
                && match service {
                    _ if g.is_everywhere() => true,
                    _ if !permission.scoped() => false,
                    Some(service) => g.covers(service),
                    None => permission == Permission::Read,
                }
        })
    }

    /// [`allows`](Self::allows), or the refusal naming the permission.
    pub fn require(&self, permission: Permission, service: Option<&str>) -> Result<()> {
        if self.allows(permission, service) {
            return Ok(());
        }
        let on = match service {
            Some(s) if permission.scoped() => format!(" on service '{s}'"),
            _ => String::new(),
        };
        Err(Error::Forbidden {
            permission: permission.as_str(),
            message: format!(
                "{} may not do this: it needs the '{}' permission{on} (roles: {})",
                self.name,
                permission.as_str(),
                self.roles_text()
            ),
        })
    }

    /// The grants as `deployer:churn_*, viewer`, or `none`.
    pub fn roles_text(&self) -> String {
        if self.grants.is_empty() {
            return "none".into();
        }
        self.grants.iter().map(Grant::to_string).collect::<Vec<_>>().join(", ")
    }

    /// Every permission the principal has, per service of `services` and node-wide, for the
    /// console to disable what it cannot do.
    pub fn capabilities<'a>(&self, services: impl IntoIterator<Item = &'a str>) -> Capabilities {
        let on = |service: Option<&str>| {
            Permission::ALL.into_iter().filter(|p| self.allows(*p, service)).collect::<Vec<_>>()
        };
        Capabilities {
            principal: self.name.clone(),
            roles: self.grants.clone(),
            node: on(None),
            services: services.into_iter().map(|s| (s.to_owned(), on(Some(s)))).collect(),
        }
    }
}

/// What the signed-in principal may do (`GET /admin/v1/me`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Capabilities {
    pub principal: String,
    pub roles: Vec<Grant>,
    /// Permissions on the node as a whole (and on services not listed).
    pub node: Vec<Permission>,
    /// Permissions per service.
    pub services: std::collections::BTreeMap<String, Vec<Permission>>,
}

/// A principal as lists show it: its grants and tokens (never their secrets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PrincipalView {
    pub name: String,
    pub grants: Vec<Grant>,
    pub tokens: Vec<TokenView>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub removed_at: Option<DateTime<Utc>>,
}

/// A principal's token as lists show it (never its secret): the same shape as an API key.
pub type TokenView = super::ApiKey;

/// A token just created: the only time its secret is visible.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewToken {
    pub principal: String,
    pub token: TokenView,
    pub secret: String,
}

/// Checks a principal name: 1–64 characters of letters, digits, `.`, `_`, `-` and `@`, and
/// not the bootstrap admin's.
pub fn check_principal_name(name: &str) -> Result<String> {
    let name = name.trim();
    let valid = !name.is_empty()
        && name.chars().count() <= MAX_NAME
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !valid {
        return Err(Error::InvalidName(format!(
            "'{}' is not a principal name: use 1 to {MAX_NAME} letters, digits, '.', '_', '-' or '@'",
            name.chars().take(80).collect::<String>().escape_default()
        )));
    }
    if name == BOOTSTRAP_ADMIN {
        return Err(Error::InvalidName(format!(
            "'{BOOTSTRAP_ADMIN}' is the node's bootstrap principal (its admin token): choose another name"
        )));
    }
    Ok(name.to_owned())
}

/// Grants must be valid and at least one.
pub fn check_grants(grants: &[Grant]) -> Result<Vec<Grant>> {
    if grants.is_empty() {
        return Err(Error::InvalidInput(
            "give the principal at least one role (viewer, deployer, operator or admin)".into(),
        ));
    }
    let mut out: Vec<Grant> = Vec::new();
    for g in grants {
        let g = Grant { role: g.role, scope: g.scope.trim().to_owned() };
        g.check()?;
        if !out.contains(&g) {
            out.push(g);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(grants: &[&str]) -> Principal {
        Principal { name: "p".into(), grants: grants.iter().map(|g| Grant::parse(g).expect("grant")).collect() }
    }

    #[test]
    fn roles_include_the_ones_below() {
        for (role, count) in [(Role::Viewer, 1), (Role::Deployer, 2), (Role::Operator, 4), (Role::Admin, 6)] {
            let perms = Permission::ALL.into_iter().filter(|p| role.permits(*p)).count();
            assert_eq!(perms, count, "{role:?}");
        }
        for w in Role::ALL.windows(2) {
            for p in Permission::ALL {
                assert!(!w[0].permits(p) || w[1].permits(p), "{:?} has {p:?} but {:?} not", w[0], w[1]);
            }
        }
        assert_eq!(Role::parse("operator").expect("role"), Role::Operator);
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn scoped_grants_cover_matching_services_only() {
        let churn = who(&["deployer:churn_*"]);
        assert!(churn.allows(Permission::Deploy, Some("churn_eu")));
        assert!(!churn.allows(Permission::Deploy, Some("iris_classifier")));
        assert!(churn.allows(Permission::Read, Some("churn_eu")));
        assert!(!churn.allows(Permission::Read, Some("iris_classifier")));
        // Node-wide: reading lists yes, deploying nothing in particular no.
        assert!(churn.allows(Permission::Read, None));
        assert!(!churn.allows(Permission::Deploy, None));
        let err = churn.require(Permission::Deploy, Some("iris_classifier")).expect_err("refused").to_string();
        assert!(err.contains("'deploy' permission on service 'iris_classifier'"), "{err}");
        assert!(err.contains("deployer:churn_*"), "{err}");

        // An admin scoped to services has no node-wide powers.
        let scoped_admin = who(&["admin:churn_*"]);
        assert!(scoped_admin.allows(Permission::Approve, Some("churn_x")));
        assert!(!scoped_admin.allows(Permission::Users, None));
        assert!(!scoped_admin.allows(Permission::RunCommands, Some("churn_x")));
        assert!(Principal::admin("root").allows(Permission::Users, None));
        assert!(!who(&["viewer", "operator:iris*"]).allows(Permission::Manage, Some("churn")));
        assert!(who(&["viewer", "operator:iris*"]).allows(Permission::Manage, Some("iris_classifier")));
    }

    #[test]
    fn grants_and_names_are_checked() {
        assert_eq!(Grant::parse("viewer").expect("ok"), Grant::everywhere(Role::Viewer));
        assert_eq!(Grant::parse("deployer:churn_*").expect("ok").to_string(), "deployer:churn_*");
        for bad in ["deployer:", "deployer:[", "boss:*", "viewer:a\nb"] {
            assert!(Grant::parse(bad).is_err(), "{bad:?}");
        }
        assert!(check_grants(&[]).is_err());
        let g = check_grants(&[Grant::everywhere(Role::Viewer), Grant::everywhere(Role::Viewer)]).expect("ok");
        assert_eq!(g.len(), 1);
        assert_eq!(check_principal_name(" alice@example.com ").expect("ok"), "alice@example.com");
        for bad in ["", "admin", "a b", "a:b", &"n".repeat(65)] {
            assert!(check_principal_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn capabilities_list_permissions_per_service() {
        let caps = who(&["viewer", "deployer:churn_*"]).capabilities(["churn_a", "iris"]);
        assert_eq!(caps.node, vec![Permission::Read]);
        assert_eq!(caps.services["churn_a"], vec![Permission::Read, Permission::Deploy]);
        assert_eq!(caps.services["iris"], vec![Permission::Read]);
    }
}
