//! The development state directory: where `corridor relay` without flags
//! keeps its issuer key, so `corridor token` can mint tokens it accepts.

use anyhow::Context as _;
use corridor_core::keys::IssuerKey;
use std::path::{Path, PathBuf};

/// Audience and issuer of the development setup.
pub(crate) const DEV_AUDIENCE: &str = "corridor-dev";
pub(crate) const DEV_ISSUER: &str = "corridor-dev";
pub(crate) const DEV_KID: &str = "dev";

/// File names inside a state directory (as `corridor keygen` writes them).
pub(crate) const PRIVATE_KEY_FILE: &str = "issuer_key.json";
pub(crate) const PUBLIC_KEYS_FILE: &str = "issuer_keys.json";

/// `$CORRIDOR_STATE_DIR`, else `$XDG_STATE_HOME/corridor`, else `~/.local/state/corridor`.
pub(crate) fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CORRIDOR_STATE_DIR") {
        return dir.into();
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME") {
        return PathBuf::from(dir).join("corridor");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".local/state/corridor")
}

/// Loads the development key from `dir`, creating it (and the public keys
/// file beside it) on first use.
pub(crate) fn ensure_dev_key(dir: &Path) -> anyhow::Result<IssuerKey> {
    let private = dir.join(PRIVATE_KEY_FILE);
    if private.exists() {
        return load_private_key(&private);
    }
    let key = IssuerKey::generate(DEV_KID, &mut rand_core::OsRng)?;
    write_key_files(&key, dir)?;
    tracing::info!(dir = %dir.display(), "created a development issuer key");
    Ok(key)
}

/// Reads a private key file.
pub(crate) fn load_private_key(path: &Path) -> anyhow::Result<IssuerKey> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    IssuerKey::from_private_json(&bytes).with_context(|| format!("{}", path.display()))
}

/// Writes `issuer_key.json` (mode 0600, atomically, never over a key) and
/// `issuer_keys.json` into `dir`.
pub(crate) fn write_key_files(key: &IssuerKey, dir: &Path) -> anyhow::Result<()> {
    let private = dir.join(PRIVATE_KEY_FILE);
    let mut text = key.to_private_json();
    text.push('\n');
    corridor::keystore::write_secret_file(&private, text.as_bytes())
        .with_context(|| format!("create {}", private.display()))?;
    let public = dir.join(PUBLIC_KEYS_FILE);
    std::fs::write(&public, format!("{}\n", key.to_public_json()))
        .with_context(|| format!("write {}", public.display()))?;
    Ok(())
}

/// The control sessions' PSK file inside a state directory.
pub(crate) const CONTROL_PSK_FILE: &str = "controlplane_psk";

/// The control PSK file `serve` and `controlplane` agree on by default:
/// `controlplane_psk` in the state directory.
pub(crate) fn control_psk_file(state_dir: Option<&PathBuf>) -> PathBuf {
    state_dir
        .cloned()
        .unwrap_or_else(default_dir)
        .join(CONTROL_PSK_FILE)
}

/// Reads a control PSK file (32 bytes in base64url), or creates it (mode
/// 0600) when `create` is set and it does not exist.
pub(crate) fn control_psk(path: &Path, create: bool) -> anyhow::Result<[u8; 32]> {
    if create && !path.exists() {
        let mut psk = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut psk);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        let text = format!("{}\n", corridor_core::b64::encode(psk));
        corridor::keystore::write_secret_file(path, text.as_bytes())
            .with_context(|| format!("create {}", path.display()))?;
        tracing::info!(file = %path.display(), "created the control sessions' PSK");
        return Ok(psk);
    }
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "read {} (the control plane creates it on first start)",
            path.display()
        )
    })?;
    corridor_core::grant::decode_psk(text.trim())
        .map(|psk| *psk)
        .with_context(|| format!("{} is not 32 bytes of base64url", path.display()))
}
