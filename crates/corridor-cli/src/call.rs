//! `corridor call`: connect as a client and call an RPC method, or pipe
//! stdin and stdout through a stream.

use crate::target::Target;
use anyhow::Context as _;
use clap::Args;
use corridor::rpc::RpcError;
use corridor::{Session, SessionOptions, builtin};
use serde_json::Value;
use std::process::ExitCode;
use std::time::Duration;

/// Connect as a client and call a method (like grpcurl), or pipe stdin/stdout
/// through a stream (like nc).
///
/// METHOD is ping, echo, info, or a numeric type_id; PAYLOAD is JSON (default
/// null). The answer is printed as JSON. With --stream KIND, stdin is sent on a
/// new stream of that kind and what comes back is written to stdout.
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  corridor call --grant pair.json ping
  corridor call --direct-info info.json echo '{\"hello\":1}'
  corridor call --grant pair.json 42 '[1,2,3]' --timeout 5
  echo hi | corridor call --direct-info info.json --stream echo")]
pub(crate) struct CallArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    action: Action,
}

/// What to do once connected: call or notify a method, or pipe a stream.
#[derive(Args, Debug)]
pub(crate) struct Action {
    /// ping, echo, info, whoami, or a numeric type_id.
    #[arg(required_unless_present = "stream")]
    method: Option<String>,
    /// The request payload as JSON.
    payload: Option<String>,
    /// Send a notification instead of a call (no answer is awaited).
    #[arg(long)]
    notify: bool,
    /// Pipe stdin and stdout through a stream of this kind instead of calling.
    #[arg(long, conflicts_with_all = ["method", "notify"])]
    stream: Option<String>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

pub(crate) fn run(args: CallArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        let options = SessionOptions::default();
        let session = args.target.connect(&options).await?;
        let code = act(&session, &args.action).await?;
        session.close().await;
        Ok(code)
    })
}

/// Runs `action` on `session`.
pub(crate) async fn act(session: &Session, action: &Action) -> anyhow::Result<ExitCode> {
    match &action.stream {
        Some(kind) => pipe(session, kind).await,
        None => call(session, action).await,
    }
}

async fn call(session: &Session, args: &Action) -> anyhow::Result<ExitCode> {
    let method = args.method.as_deref().unwrap_or_default();
    let Some(type_id) = builtin::type_id(method) else {
        return Ok(crate::config_error(format!(
            "unknown method {method:?}: use ping, echo, info, whoami or a number"
        )));
    };
    let payload: Value = match &args.payload {
        Some(text) => serde_json::from_str(text).context("PAYLOAD is not JSON")?,
        None => Value::Null,
    };
    if args.notify {
        session.rpc().notify(type_id, &payload).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let timeout = Duration::from_secs(args.timeout);
    match session
        .rpc()
        .call_with_timeout::<_, Value>(type_id, &payload, timeout)
        .await
    {
        Ok(answer) => {
            println!("{}", serde_json::to_string_pretty(&answer)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(RpcError::Remote { code, message }) => {
            eprintln!("corridor: the endpoint answered {code}: {message}");
            Ok(ExitCode::FAILURE)
        }
        Err(error) => Err(error.into()),
    }
}

async fn pipe(session: &Session, kind: &str) -> anyhow::Result<ExitCode> {
    let stream = session.open_stream(kind).await?;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let upload = async {
        tokio::io::copy(&mut tokio::io::stdin(), &mut writer).await?;
        tokio::io::AsyncWriteExt::shutdown(&mut writer).await
    };
    let download = async {
        let mut stdout = tokio::io::stdout();
        tokio::io::copy(&mut reader, &mut stdout).await?;
        tokio::io::AsyncWriteExt::flush(&mut stdout).await
    };
    let (up, down) = tokio::join!(upload, download);
    up.context("sending stdin")?;
    down.context("receiving")?;
    Ok(ExitCode::SUCCESS)
}
