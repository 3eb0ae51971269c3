//! `corridor users`: the registry of key-identified clients: add and
//! remove users, issue one-time enrollment tokens, list and revoke keys.
//! It writes the store only; running servers read revocations from it and
//! close the revoked keys' sessions within a second.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use corridor_identity::Store;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  corridor users add alice --group staff
  corridor users enroll alice --ttl 15m --label laptop     prints a one-time token
  corridor users keys alice
  corridor users revoke alice --key FINGERPRINT
  corridor users list --db postgres://corridor@db.internal/corridor")]
pub(crate) struct UsersArgs {
    /// The store: an SQLite file path (created on first use) or a
    /// postgres:// URL (default: $CORRIDOR_STATE_DIR/identity/users.db).
    #[arg(long, env = "CORRIDOR_USERS_DB", global = true)]
    db: Option<String>,
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Subcommand, Debug)]
enum UsersCommand {
    /// Add a user.
    Add {
        /// The login name (A-Z a-z 0-9 . _ @ -, at most 64).
        name: String,
        /// A group the user belongs to (repeat for several).
        #[arg(long = "group")]
        groups: Vec<String>,
    },
    /// Every user with their groups and live keys, one per line.
    List,
    /// Print a one-time token with which the user enrolls one key (device).
    /// It is stored hashed: this is the only time it is shown.
    Enroll {
        /// The user.
        name: String,
        /// How long the token stays usable (15m, 1h, 90s).
        #[arg(long, default_value = "15m", value_parser = crate::go_flags::parse_duration)]
        ttl: Duration,
        /// What to call the device that enrolls with it.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// A user's keys: fingerprint, label, created, last seen, revoked.
    Keys {
        /// The user.
        name: String,
    },
    /// Revoke one of a user's keys; its live sessions close.
    Revoke {
        /// The user.
        name: String,
        /// The key's fingerprint (as `corridor users keys` shows it). It
        /// may begin with `-` (it is base64url), and is taken as it is.
        #[arg(long, allow_hyphen_values = true)]
        key: String,
    },
    /// Remove a user, its keys and tokens; its live sessions close.
    Remove {
        /// The user.
        name: String,
    },
}

fn default_db() -> PathBuf {
    crate::dev_state::default_dir().join("identity/users.db")
}

/// Opens the store the flags name, creating the default's directory.
pub(crate) async fn open_store(db: Option<String>) -> anyhow::Result<Store> {
    let url = match db {
        Some(url) => url,
        None => {
            let path = default_db();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("create {}", dir.display()))?;
            }
            path.display().to_string()
        }
    };
    Store::open(&url)
        .await
        .with_context(|| format!("open the user store {url}"))
}

fn time(ms: Option<i64>) -> String {
    match ms {
        Some(ms) => format!("{}", ms / 1000),
        None => "-".into(),
    }
}

pub(crate) fn run(args: UsersArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let store = open_store(args.db).await?;
        match args.command {
            UsersCommand::Add { name, groups } => {
                store.add_user(&name, &groups).await?;
                eprintln!("added user {name}");
            }
            UsersCommand::List => {
                for user in store.users().await? {
                    let keys = store.keys(&user.name).await?;
                    let live = keys.iter().filter(|k| k.revoked_at.is_none()).count();
                    println!(
                        "{}\tgroups={}\tkeys={live}",
                        user.name,
                        user.groups.join(",")
                    );
                }
            }
            UsersCommand::Enroll { name, ttl, label } => {
                let token = store.issue_token(&name, ttl, &label).await?;
                println!("{token}");
                eprintln!(
                    "one-time token for {name}, valid {}s: give it to the device that enrolls",
                    ttl.as_secs()
                );
            }
            UsersCommand::Keys { name } => {
                println!("fingerprint\tlabel\tcreated\tlast_seen\trevoked");
                for key in store.keys(&name).await? {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        key.fingerprint,
                        if key.label.is_empty() {
                            "-"
                        } else {
                            &key.label
                        },
                        time(Some(key.created_at)),
                        time(key.last_seen_at),
                        time(key.revoked_at)
                    );
                }
            }
            UsersCommand::Revoke { name, key } => {
                store.revoke_key(&name, &key).await?;
                eprintln!("revoked {key} of {name}");
            }
            UsersCommand::Remove { name } => {
                store.remove_user(&name).await?;
                eprintln!("removed user {name}");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
