//! `switchyard generate` (hidden): man pages and shell completions from the CLI's own
//! definition, so they never drift from it. `scripts/package.sh` puts them in the .deb.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use clap_complete::Shell;

#[derive(Subcommand)]
pub enum GenerateCommand {
    /// One man page (section 1) per command and subcommand: switchyard.1, switchyard-serve.1,
    /// switchyard-service-create.1, …
    Man {
        /// Directory to write them to (created if missing).
        dir: PathBuf,
    },
    /// Completion scripts: switchyard.bash, _switchyard (zsh) and switchyard.fish.
    Completions {
        /// Directory to write them to (created if missing).
        dir: PathBuf,
    },
}

pub fn generate(command: GenerateCommand, cli: clap::Command) -> Result<()> {
    match command {
        GenerateCommand::Man { dir } => {
            create(&dir)?;
            clap_mangen::generate_to(cli, &dir).with_context(|| format!("cannot write man pages to {}", dir.display()))
        }
        GenerateCommand::Completions { dir } => {
            create(&dir)?;
            let mut cli = cli;
            for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
                clap_complete::generate_to(shell, &mut cli, "switchyard", &dir)
                    .with_context(|| format!("cannot write the {shell} completions to {}", dir.display()))?;
            }
            Ok(())
        }
    }
}

fn create(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}
