//! `switchyard users …`, `switchyard approvals …` and `switchyard audit …`: principals and
//! their tokens, protected services and approval requests, and the audit, over the admin API.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;
use switchyard::approval::ApprovalRequest;
use switchyard::auth::people::{Grant, NewToken, PrincipalView};
use switchyard::{Error, report};

use super::{NodeArgs, client, print_json};

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Every principal, with roles and tokens (never their secrets).
    List,
    /// One principal.
    Show { name: String },
    /// Who this CLI's token stands for, and what it may do.
    Me,
    /// Create a principal: --role viewer|deployer|operator|admin, optionally scoped to
    /// services by a glob (--role deployer:churn_*). Give it a token next.
    Add {
        name: String,
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// Replace a principal's roles.
    Roles {
        name: String,
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// Remove a principal: its tokens stop working at once; its name is never reused.
    Remove { name: String },
    /// Create a token for a principal; its secret is printed once and stored nowhere.
    Token {
        name: String,
        /// What the token is for (a laptop, a CI job).
        #[arg(long = "name", id = "token_name", default_value = "cli")]
        token_name: String,
        /// Expire it after this long: 30m, 24h, 90d (default: until revoked).
        #[arg(long)]
        expires: Option<String>,
    },
    /// Revoke a principal's token now.
    RevokeToken { name: String, id: i64 },
}

#[derive(Subcommand)]
pub enum ApprovalsCommand {
    /// Approval requests (pending ones unless --all), of one service or every one.
    List {
        #[arg(long)]
        service: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Approve a request: its deploy or canary runs now, in the requester's name.
    Approve {
        service: String,
        id: i64,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Reject a request.
    Reject {
        service: String,
        id: i64,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Protect a service (deploys and canary starts need approval), or lift it with --off.
    Protect {
        service: String,
        #[arg(long)]
        off: bool,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the audit's hash chain; fails naming the first bad row.
    Verify,
    /// Write audit rows as JSON lines (one row per line), oldest first.
    Export {
        /// From: a duration back from now (30m, 24h, 7d) or an RFC 3339 time (default: all).
        #[arg(long)]
        since: Option<String>,
        /// Only the rows of this service.
        #[arg(long)]
        service: Option<String>,
        /// The file to write (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn grants(roles: &[String]) -> switchyard::Result<Vec<Grant>> {
    roles.iter().map(|r| Grant::parse(r)).collect()
}

pub async fn users(command: UsersCommand, node: &NodeArgs) -> switchyard::Result<()> {
    let c = client(node)?;
    let one = |p: PrincipalView| show(&[p], node.json);
    match command {
        UsersCommand::List => show(&c.list_principals().await?, node.json),
        UsersCommand::Show { name } => one(c.get_principal(&name).await?),
        UsersCommand::Me => {
            let me = c.me().await?;
            if node.json {
                return print_json(&me);
            }
            let roles: Vec<String> = me.roles.iter().map(Grant::to_string).collect();
            println!("{}: {}", me.principal, roles.join(", "));
            let names =
                |p: &[switchyard::auth::Permission]| p.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ");
            println!("  node: {}", names(&me.node));
            for (service, perms) in &me.services {
                println!("  {service}: {}", names(perms));
            }
            Ok(())
        }
        UsersCommand::Add { name, roles } => one(c.create_principal(&name, &grants(&roles)?).await?),
        UsersCommand::Roles { name, roles } => one(c.set_roles(&name, &grants(&roles)?).await?),
        UsersCommand::Remove { name } => one(c.remove_principal(&name).await?),
        UsersCommand::Token { name, token_name, expires } => {
            let ttl = expires
                .map(|e| {
                    report::parse_duration(&e)?
                        .to_std()
                        .map_err(|_| Error::InvalidInput("--expires must not be negative".into()))
                })
                .transpose()?;
            print_token(&c.create_token(&name, &token_name, ttl).await?, node.json)
        }
        UsersCommand::RevokeToken { name, id } => one(c.revoke_token(&name, id).await?),
    }
}

fn show(principals: &[PrincipalView], json: bool) -> switchyard::Result<()> {
    if json {
        return if principals.len() == 1 { print_json(&principals[0]) } else { print_json(&principals) };
    }
    if principals.is_empty() {
        println!("no principals yet: `switchyard users add NAME --role deployer` (the admin token is 'admin')");
    }
    for p in principals {
        let roles: Vec<String> = p.grants.iter().map(Grant::to_string).collect();
        let removed = p.removed_at.map(|t| format!(" (removed {})", t.format("%Y-%m-%d %H:%M"))).unwrap_or_default();
        println!("{}: {}{removed}", p.name, if roles.is_empty() { "-".to_owned() } else { roles.join(", ") });
        for t in &p.tokens {
            println!(
                "  token {:>3}  {:<16}  {:<10}  {:<8}  expires {}",
                t.id,
                t.name,
                t.prefix,
                format!("{:?}", t.status).to_lowercase(),
                t.expires_at.map_or("never".to_owned(), |x| x.format("%Y-%m-%d %H:%M").to_string())
            );
        }
    }
    Ok(())
}

fn print_token(new: &NewToken, json: bool) -> switchyard::Result<()> {
    if json {
        return print_json(new);
    }
    println!(
        "token {} ({}) of {} created. Its secret, shown this once:\n\n  {}\n",
        new.token.id, new.token.name, new.principal, new.secret
    );
    println!("Put it in a file and pass --token-file FILE (or SWITCHYARD_TOKEN_FILE).");
    Ok(())
}

/// Prints an approval request (a deploy or canary start on a protected service answers one).
pub fn print_request(r: &ApprovalRequest, json: bool) -> switchyard::Result<()> {
    if json {
        return print_json(r);
    }
    println!(
        "approval requested: request {} on {} ({} by {}, {:?}, expires {})",
        r.id,
        r.service,
        r.kind.as_str(),
        r.requested_by,
        r.status,
        r.expires_at.format("%Y-%m-%d %H:%M UTC")
    );
    if r.status == switchyard::approval::ApprovalStatus::Pending {
        println!(
            "another operator or admin of {} approves it: switchyard approvals approve {} {}",
            r.service, r.service, r.id
        );
    }
    if !r.outcome.is_empty() {
        println!("outcome: {}", r.outcome);
    }
    Ok(())
}

pub async fn approvals(command: ApprovalsCommand, node: &NodeArgs) -> switchyard::Result<()> {
    let c = client(node)?;
    match command {
        ApprovalsCommand::List { service, all } => {
            let list = c.approvals(service.as_deref(), !all).await?;
            if node.json {
                return print_json(&list);
            }
            if list.is_empty() {
                println!("no approval requests");
            }
            for r in &list {
                println!(
                    "{:>4}  {:<20}  {:<7}  {:<9}  by {:<16}  {}",
                    r.id,
                    r.service,
                    r.kind.as_str(),
                    format!("{:?}", r.status).to_lowercase(),
                    r.requested_by,
                    r.reason
                );
            }
            Ok(())
        }
        ApprovalsCommand::Approve { service, id, note } => {
            print_request(&c.decide(&service, id, "approve", &note).await?, node.json)
        }
        ApprovalsCommand::Reject { service, id, note } => {
            print_request(&c.decide(&service, id, "reject", &note).await?, node.json)
        }
        ApprovalsCommand::Protect { service, off } => {
            let p = c.set_protection(&service, !off).await?;
            if node.json {
                return print_json(&p);
            }
            if p.protected {
                println!("{service} is protected: its deploys and canary starts need another principal's approval");
            } else {
                println!("{service} is not protected");
            }
            Ok(())
        }
    }
}

pub async fn audit(command: AuditCommand, node: &NodeArgs) -> switchyard::Result<()> {
    let c = client(node)?;
    match command {
        AuditCommand::Verify => {
            let verdict = c.verify_audit().await?;
            if node.json {
                print_json(&verdict)?;
            }
            match verdict.first_bad {
                None => {
                    if !node.json {
                        println!("audit chain intact: {} row(s), head {}", verdict.rows, verdict.head);
                    }
                    Ok(())
                }
                Some(bad) => {
                    Err(Error::InvalidConfig(format!("audit chain broken at row {}: {}", bad.seq, bad.reason)))
                }
            }
        }
        AuditCommand::Export { since, service, out } => {
            let now = switchyard::clock::Clock::now(&switchyard::clock::SystemClock);
            let since = since.map(|s| report::parse_time(&s, now)).transpose()?.map(|t| t.timestamp_millis());
            let rows = c.audit(since, service.as_deref()).await?;
            let mut text = String::new();
            for row in &rows {
                text.push_str(&serde_json::to_string(row).map_err(|e| Error::Internal(e.to_string()))?);
                text.push('\n');
            }
            match out {
                Some(path) => {
                    std::fs::write(&path, text)?;
                    eprintln!("wrote {} audit row(s) to {}", rows.len(), path.display());
                }
                None => std::io::stdout().write_all(text.as_bytes())?,
            }
            Ok(())
        }
    }
}
