//! Which endpoint a client command connects to: an endpoint id at a control
//! plane (a fresh channel per connection), a relay channel's client grant
//! (one session per grant), or the direct connect info of an endpoint
//! listening itself.

use anyhow::Context as _;
use clap::Args;
use corridor::{Client, Session, SessionOptions};
use corridor_core::grant::DirectInfo;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// `--controlplane` with `--endpoint-id`, `--grant`, or `--direct-info`.
#[derive(Args, Debug)]
pub(crate) struct Target {
    /// A control plane's URL (`corridor controlplane` prints it): every
    /// connection asks it for a fresh channel to --endpoint-id.
    #[arg(
        long,
        requires = "endpoint_id",
        conflicts_with_all = ["grant", "direct_info"],
        required_unless_present_any = ["grant", "direct_info"]
    )]
    controlplane: Option<String>,
    /// The endpoint to reach through --controlplane.
    #[arg(long, requires = "controlplane")]
    endpoint_id: Option<String>,
    /// A file holding the bearer token the control plane asks for.
    #[arg(long, requires = "controlplane", env = "CORRIDOR_API_TOKEN_FILE")]
    api_token_file: Option<PathBuf>,
    /// A client grant file (or a {client, server} pair); `-` reads stdin.
    /// Its token is single-use: one session per grant.
    #[arg(long, conflicts_with = "direct_info")]
    grant: Option<PathBuf>,
    /// Direct connect info, as `corridor serve --listen` prints it.
    #[arg(long)]
    direct_info: Option<PathBuf>,
    /// Send this `Origin` header, for relays and endpoints that allow only
    /// listed origins (as flowersec's Go clients take it from FSEC_ORIGIN).
    /// Default: none, as a program rather than a browser.
    #[arg(long, env = "FSEC_ORIGIN")]
    origin: Option<String>,
}

impl Target {
    /// Connects as the client.
    pub(crate) async fn connect(&self, options: &SessionOptions) -> anyhow::Result<Session> {
        let mut options = options.clone();
        options.ws.origin.clone_from(&self.origin);
        let options = &options;
        if let (Some(url), Some(endpoint_id)) = (&self.controlplane, &self.endpoint_id) {
            let token = match &self.api_token_file {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?
                        .trim()
                        .to_owned(),
                ),
                None => None,
            };
            let grant = corridor_controlplane::client::request_grant(
                url,
                endpoint_id,
                token.as_deref(),
                Duration::from_secs(10),
            )
            .await
            .context("asking the control plane for a channel")?;
            return Client::connect_tunnel(&grant, options)
                .await
                .context("joining the channel");
        }
        if let Some(path) = &self.grant {
            let grant = crate::serve::read_grant(path, false)?;
            return Client::connect_tunnel(&grant, options)
                .await
                .context("joining the channel");
        }
        let path = self
            .direct_info
            .as_ref()
            .context("--controlplane, --grant or --direct-info is required")?;
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
