//! The `corridor` command: one binary for every corridor service and tool.
//! It parses flags and calls the libraries; it holds no protocol logic.

mod bench;
mod call;
mod controlplane;
mod demo;
mod dev_state;
mod go_flags;
mod ipc;
mod keygen;
mod node;
mod proxy;
mod records;
mod relay;
mod serve;
mod signals;
mod target;
mod token;
mod users;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// corridor: end-to-end encrypted, multiplexed sessions through relays that never see the plaintext.
#[derive(Parser, Debug)]
#[command(name = "corridor", version, about, long_about = None, after_help = "\
Start here:
  corridor demo                        a relay, an endpoint and a client in one process
  corridor relay                       run a relay with a development key (no flags needed)
  corridor controlplane                mint a fresh channel for every client (no flags needed)
  corridor serve --controlplane http://127.0.0.1:8090 --endpoint-id demo
                                       serve every client sent for demo
  corridor call --controlplane http://127.0.0.1:8090 --endpoint-id demo ping
                                       call it as a client, as often as you like
  corridor bench --direct-info i.json  time calls and stream throughput of an endpoint
Every subcommand has --help.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Relay(Box<relay::RelayArgs>),
    Controlplane(Box<controlplane::ControlPlaneArgs>),
    Keygen(keygen::KeygenArgs),
    Token(token::TokenArgs),
    Serve(serve::ServeArgs),
    Call(call::CallArgs),
    Bench(bench::BenchArgs),
    Demo(demo::DemoArgs),
    /// Local IPC: mutually authenticated Unix-socket services (serve, call).
    Ipc(ipc::IpcArgs),
    /// The ingress proxy: route public HTTP/TLS by Host/SNI to private
    /// agents that dial back (serve, register, unregister, list, agent).
    Proxy(Box<proxy::ProxyArgs>),
    /// The peer mesh: run a node (start) and drive it (peers, send,
    /// broadcast, status, allowlist).
    Node(Box<node::NodeArgs>),
    /// Key-identified clients: users, one-time enrollment tokens, keys
    /// and their revocation (add, list, enroll, keys, revoke, remove).
    Users(users::UsersArgs),
    /// The records service: JSON actions on declared views by enrolled
    /// users, and their changes as events (serve, call).
    Records(records::RecordsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Relay(args) => relay::run(*args),
        Command::Controlplane(args) => controlplane::run(*args),
        Command::Keygen(args) => keygen::run(args),
        Command::Token(args) => token::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Call(args) => call::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Ipc(args) => ipc::run(args),
        Command::Proxy(args) => proxy::run(*args),
        Command::Node(args) => node::run(*args),
        Command::Users(args) => users::run(args),
        Command::Records(args) => records::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("corridor: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // yamux warns about peers that hang up while it closes; corridor
        // logs each session's end reason itself.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,yamux=error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Exit code for a configuration the command cannot run with.
pub(crate) const EXIT_CONFIG: u8 = 2;

/// Reports a configuration error and returns the exit code for it.
pub(crate) fn config_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("corridor: {message}");
    ExitCode::from(EXIT_CONFIG)
}

pub(crate) use corridor::clock::unix_now;
