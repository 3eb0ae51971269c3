//! `corridor keygen`: a new issuer key.

use crate::dev_state::{PRIVATE_KEY_FILE, PUBLIC_KEYS_FILE, write_key_files};
use clap::Args;
use corridor_core::keys::IssuerKey;
use std::path::PathBuf;
use std::process::ExitCode;

/// Create an Ed25519 issuer key.
///
/// Writes `issuer_key.json` (the private key, mode 0600: keep it with the
/// control plane) and `issuer_keys.json` (the public key: give it to relays
/// with --issuer-keys-file) into --out-dir. Refuses to overwrite a key.
#[derive(Args, Debug)]
pub(crate) struct KeygenArgs {
    /// Key id written into every token this key signs.
    #[arg(long, default_value = "k1")]
    kid: String,
    /// Directory for the two files.
    #[arg(long, default_value = ".")]
    out_dir: PathBuf,
}

pub(crate) fn run(args: KeygenArgs) -> anyhow::Result<ExitCode> {
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
