//! `switchyard auth …`: a deployment's auth mode and its API keys, over the admin API.

use clap::Subcommand;
use switchyard::auth::{AccessView, AuthMode, NewKey};

use super::{NodeArgs, client, print_json};

#[derive(Subcommand)]
pub enum AuthCommand {
    /// The deployment's auth mode, its keys (never their secrets) and refused requests.
    Show { service: String },
    /// Set the mode: none, api_key (Bearer or x-api-key) or basic (key name and secret).
    Mode {
        service: String,
        #[arg(value_parser = ["none", "api_key", "basic"])]
        mode: String,
    },
    /// Create a key; its secret is printed once and stored nowhere.
    CreateKey {
        service: String,
        /// Who or what will use it (the user name in basic mode).
        #[arg(long)]
        name: String,
    },
    /// Replace a key: a new secret under the same name; the old one works for --overlap.
    RotateKey {
        service: String,
        id: i64,
        /// How long the old key keeps working: 90s, 30m, 24h, 7d (at most 30d).
        #[arg(long, default_value = "24h")]
        overlap: String,
    },
    /// Revoke a key now.
    RevokeKey { service: String, id: i64 },
}

pub async fn auth(command: AuthCommand, node: &NodeArgs) -> switchyard::Result<()> {
    let c = client(node)?;
    match command {
        AuthCommand::Show { service } => show(&c.access(&service).await?, node.json),
        AuthCommand::Mode { service, mode } => {
            show(&c.set_auth_mode(&service, AuthMode::parse(&mode)?).await?, node.json)
        }
        AuthCommand::CreateKey { service, name } => print_new(&c.create_key(&service, &name).await?, node.json),
        AuthCommand::RotateKey { service, id, overlap } => {
            let overlap = switchyard::report::parse_duration(&overlap)?
                .to_std()
                .map_err(|_| switchyard::Error::InvalidInput("the overlap must not be negative".into()))?;
            print_new(&c.rotate_key(&service, id, overlap).await?, node.json)
        }
        AuthCommand::RevokeKey { service, id } => show(&c.revoke_key(&service, id).await?, node.json),
    }
}

fn show(view: &AccessView, json: bool) -> switchyard::Result<()> {
    if json {
        return print_json(view);
    }
    println!(
        "{}: auth mode {}, {} refused request(s) since the node started",
        view.service,
        view.mode.as_str(),
        view.failures
    );
    if view.keys.is_empty() {
        println!("no keys (create one with `switchyard auth create-key {} --name NAME`)", view.service);
        return Ok(());
    }
    println!("{:>4}  {:<20}  {:<10}  {:<9}  {:<20}  EXPIRES", "ID", "NAME", "PREFIX", "STATUS", "CREATED");
    for k in &view.keys {
        println!(
            "{:>4}  {:<20}  {:<10}  {:<9}  {:<20}  {}",
            k.id,
            k.name,
            k.prefix,
            format!("{:?}", k.status).to_lowercase(),
            k.created_at.format("%Y-%m-%d %H:%M:%S"),
            k.expires_at.map_or("-".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        );
    }
    Ok(())
}

fn print_new(new: &NewKey, json: bool) -> switchyard::Result<()> {
    if json {
        return print_json(new);
    }
    println!("key {} ({}) created. Its secret, shown this once:\n\n  {}\n", new.key.id, new.key.name, new.secret);
    println!("Send it as 'Authorization: Bearer <secret>' or 'x-api-key: <secret>' (api_key mode),");
    println!("or as basic auth with user '{}' and the secret as password (basic mode).", new.key.name);
    Ok(())
}
