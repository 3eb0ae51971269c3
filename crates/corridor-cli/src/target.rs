//! Which endpoint a client command connects to: a relay channel's client
//! grant, or the direct connect info of an endpoint listening itself.

use anyhow::Context as _;
use clap::Args;
use corridor::{Client, Session, SessionOptions};
use corridor_core::grant::DirectInfo;
use serde_json::Value;
use std::path::PathBuf;

/// `--grant` or `--direct-info`.
#[derive(Args, Debug)]
pub(crate) struct Target {
    /// A client grant file (or a {client, server} pair); `-` reads stdin.
    #[arg(
        long,
        conflicts_with = "direct_info",
        required_unless_present = "direct_info"
    )]
    grant: Option<PathBuf>,
    /// Direct connect info, as `corridor serve --listen` prints it.
    #[arg(long)]
    direct_info: Option<PathBuf>,
}

impl Target {
    /// Connects as the client.
    pub(crate) async fn connect(&self, options: &SessionOptions) -> anyhow::Result<Session> {
        if let Some(path) = &self.grant {
            let grant = crate::serve::read_grant(path, false)?;
            return Client::connect_tunnel(&grant, options)
                .await
                .context("joining the channel");
        }
        let path = self
            .direct_info
            .as_ref()
            .context("--grant or --direct-info is required")?;
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        // Accept the info alone or the whole ready line of `corridor serve --listen`.
        let value: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let info: DirectInfo =
            serde_json::from_value(value.get("direct_info").cloned().unwrap_or(value))
                .with_context(|| format!("{} is not direct connect info", path.display()))?;
        Client::connect_direct(&info, options)
            .await
            .context("connecting")
    }
}
