//! `corridor keygen`: a new issuer key, or a node's static identity.

use crate::dev_state::{PRIVATE_KEY_FILE, PUBLIC_KEYS_FILE, write_key_files};
use anyhow::Context as _;
use clap::{Args, ValueEnum};
use corridor::keystore::FileKeyStore;
use corridor_core::identity::StaticSecret;
use corridor_core::keys::IssuerKey;
use std::path::PathBuf;
use std::process::ExitCode;

/// Create a key: an Ed25519 issuer key (the default), or an X25519 identity.
///
/// `--kind issuer` writes `issuer_key.json` (the private key, mode 0600:
/// keep it with the control plane) and `issuer_keys.json` (the public key:
/// give it to relays with --issuer-keys-file) into --out-dir.
///
/// `--kind identity` writes one identity file (--out, mode 0600, written
/// atomically) holding a node's X25519 static key for the noise suite, and
/// prints its public key and fingerprint: give those to peers that pin or
/// allowlist it.
///
/// Neither overwrites an existing key.
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  corridor keygen --kid k1 --out-dir ./issuer
  corridor keygen --kind identity --out ~/.config/corridor/node.key")]
pub(crate) struct KeygenArgs {
    /// What to create.
    #[arg(long, value_enum, default_value_t = Kind::Issuer)]
    kind: Kind,
    /// Key id written into every token this key signs (issuer).
    #[arg(long, default_value = "k1")]
    kid: String,
    /// Directory for the two files (issuer).
    #[arg(long, default_value = ".")]
    out_dir: PathBuf,
    /// The identity file to create (identity).
    #[arg(long, default_value = "identity.json")]
    out: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// An Ed25519 key that signs attach tokens.
    Issuer,
    /// An X25519 static key that identifies a node.
    Identity,
}

pub(crate) fn run(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    match args.kind {
        Kind::Issuer => issuer(&args),
        Kind::Identity => identity(&args),
    }
}

fn issuer(args: &KeygenArgs) -> anyhow::Result<ExitCode> {
    let key = match IssuerKey::generate(&args.kid, &mut rand_core::OsRng) {
        Ok(key) => key,
        Err(error) => return Ok(crate::config_error(format!("--kid: {error}"))),
    };
    write_key_files(&key, &args.out_dir)?;
    println!(
        "{}",
        serde_json::json!({
            "kid": key.kid(),
            "private_key_file": args.out_dir.join(PRIVATE_KEY_FILE),
            "public_keys_file": args.out_dir.join(PUBLIC_KEYS_FILE),
        })
    );
    Ok(ExitCode::SUCCESS)
}

fn identity(args: &KeygenArgs) -> anyhow::Result<ExitCode> {
    let key = StaticSecret::generate(&mut rand_core::OsRng);
    let store = FileKeyStore::new(&args.out);
    store
        .create(&key)
        .with_context(|| format!("--out {}", args.out.display()))?;
    let public = key.public_key();
    println!(
        "{}",
        serde_json::json!({
            "kind": "x25519",
            "public_key": public.to_b64u(),
            "fingerprint": public.fingerprint(),
            "identity_file": args.out,
        })
    );
    Ok(ExitCode::SUCCESS)
}
