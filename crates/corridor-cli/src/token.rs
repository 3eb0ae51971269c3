//! `corridor token`: mint grants and raw tokens, so a control plane can be scripted.

use crate::dev_state;
use anyhow::Context as _;
use clap::{Args, Subcommand};
use corridor_core::Role;
use corridor_core::grant::{self, GrantParams, GrantSuite};
use corridor_core::keys::IssuerKey;
use corridor_core::token::{self, Claims};
use std::path::PathBuf;
use std::process::ExitCode;

/// Mint channel grants and attach tokens with an issuer key.
///
/// Without --key, the development key of `corridor relay` (in --state-dir) is
/// used with audience and issuer `corridor-dev`, so tokens work against a
/// relay started with no flags.
#[derive(Args, Debug)]
pub(crate) struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Print a grant pair {client, server} for a new channel as JSON: the tunnel
    /// URL, channel id, init_exp, idle timeout, each role's token, a fresh
    /// 32-byte E2EE PSK shared by both, and the allowed suites.
    Grant(GrantArgs),
    /// Print one FST2 attach token.
    Mint(MintArgs),
}

#[derive(Args, Debug)]
pub(crate) struct IssuerArgs {
    /// Private key file (`issuer_key.json` from `corridor keygen`).
    #[arg(long, env = "CORRIDOR_ISSUER_KEY_FILE")]
    key: Option<PathBuf>,
    /// State directory holding the development key, used when --key is absent.
    #[arg(long, env = "CORRIDOR_STATE_DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// Audience: the relay's --aud.
    #[arg(long)]
    aud: Option<String>,
    /// Issuer id: the relay's --iss.
    #[arg(long)]
    iss: Option<String>,
    /// Seconds the endpoints have to finish the E2EE handshake.
    #[arg(long, default_value_t = grant::DEFAULT_INIT_WINDOW_SECS)]
    pub(crate) init_window: i64,
    /// Seconds of silence after which the relay closes the channel.
    #[arg(long, default_value_t = grant::DEFAULT_IDLE_TIMEOUT_SECS)]
    pub(crate) idle_timeout: i32,
    /// Lifetime of each token in seconds (capped at init_exp).
    #[arg(long, default_value_t = grant::DEFAULT_TOKEN_EXP_SECS)]
    pub(crate) token_exp: i64,
}

#[derive(Args, Debug)]
struct GrantArgs {
    #[command(flatten)]
    issuer: IssuerArgs,
    /// The relay's WebSocket URL (its ready line's `ws_url`).
    #[arg(long)]
    tunnel_url: String,
    /// Channel id; random when absent.
    #[arg(long)]
    channel_id: Option<String>,
    /// Allowed suites, the first being the default: x25519 or p256 (fsec1,
    /// what flowersec endpoints speak), or noise (endpoints with identities,
    /// through the library's connect_tunnel_with).
    #[arg(long, value_delimiter = ',', default_value = "x25519")]
    suites: Vec<GrantSuite>,
}

#[derive(Args, Debug)]
struct MintArgs {
    #[command(flatten)]
    issuer: IssuerArgs,
    /// Channel id.
    #[arg(long)]
    channel_id: String,
    /// Role: client or server.
    #[arg(long)]
    role: Role,
}

pub(crate) fn run(args: TokenArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        TokenCommand::Grant(args) => grant_cmd(args),
        TokenCommand::Mint(args) => mint_cmd(args),
    }
}

/// The key, audience and issuer to sign with.
pub(crate) fn issuer(args: &IssuerArgs) -> anyhow::Result<(IssuerKey, String, String)> {
    match &args.key {
        Some(path) => {
            let key = dev_state::load_private_key(path)?;
            let aud = args.aud.clone().context("--aud is required with --key")?;
            let iss = args.iss.clone().context("--iss is required with --key")?;
            Ok((key, aud, iss))
        }
        None => {
            let dir = args
                .state_dir
                .clone()
                .unwrap_or_else(dev_state::default_dir);
            let key = dev_state::ensure_dev_key(&dir)?;
            let aud = args
                .aud
                .clone()
                .unwrap_or_else(|| dev_state::DEV_AUDIENCE.into());
            let iss = args
                .iss
                .clone()
                .unwrap_or_else(|| dev_state::DEV_ISSUER.into());
            Ok((key, aud, iss))
        }
    }
}

fn grant_cmd(args: GrantArgs) -> anyhow::Result<ExitCode> {
    let (key, audience, issuer) = issuer(&args.issuer)?;
    let params = GrantParams {
        tunnel_url: args.tunnel_url,
        audience,
        issuer,
        init_window_secs: args.issuer.init_window,
        idle_timeout_secs: args.issuer.idle_timeout,
        token_exp_secs: args.issuer.token_exp,
        suites: args.suites,
    };
    let channel_id = args
        .channel_id
        .unwrap_or_else(|| grant::random_channel_id(&mut rand_core::OsRng));
    let pair = grant::mint(
        &key,
        &params,
        &channel_id,
        crate::unix_now(),
        &mut rand_core::OsRng,
    )?;
    println!("{}", serde_json::to_string_pretty(&pair)?);
    Ok(ExitCode::SUCCESS)
}

fn mint_cmd(args: MintArgs) -> anyhow::Result<ExitCode> {
    let (key, aud, iss) = issuer(&args.issuer)?;
    let now = crate::unix_now();
    let init_exp = now + args.issuer.init_window;
    let mut token_id = [0u8; 24];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut token_id);
    let claims = Claims {
        kid: key.kid().to_owned(),
        aud,
        iss,
        channel_id: args.channel_id,
        role: args.role,
        token_id: corridor_core::b64::encode(token_id),
        init_exp,
        idle_timeout_seconds: args.issuer.idle_timeout,
        iat: now,
        exp: (now + args.issuer.token_exp).min(init_exp),
    };
    println!("{}", token::sign(key.signing_key(), claims)?);
    Ok(ExitCode::SUCCESS)
}
