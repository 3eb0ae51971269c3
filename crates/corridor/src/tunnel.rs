//! Joining a relay channel: dial the grant's tunnel URL and send the attach.

use crate::carrier::ws::WsRecords;
use crate::credential::DirectCredential;
use crate::error::Error;
use crate::peer::ConnectionInfo;
use crate::session::SessionOptions;
use corridor_core::attach::Attach;
use corridor_core::grant::{self, ChannelInitGrant, GrantSuite};
use corridor_core::suite::SuiteName;
use corridor_core::{Role, b64};
use rand_core::RngCore;
use zeroize::Zeroizing;

/// Dials the relay named in `grant` and attaches as the grant's role.
/// Returns the carrier, the connection's facts and the PSK.
pub(crate) async fn attach(
    grant: &ChannelInitGrant,
    role: Role,
    options: &SessionOptions,
) -> Result<(WsRecords, ConnectionInfo, Zeroizing<[u8; 32]>), Error> {
    if grant.role != role {
        return Err(Error::InvalidGrant("the grant is for the other role"));
    }
    let psk = psk(grant)?;
    if !grant.allowed_suites.is_empty() && !grant.allowed_suites.contains(&grant.default_suite) {
        return Err(Error::InvalidGrant(
            "default_suite is not among allowed_suites",
        ));
    }
    let mut instance = [0u8; 24];
    rand_core::OsRng.fill_bytes(&mut instance);
    let attach = Attach {
        v: corridor_core::attach::ATTACH_VERSION,
        channel_id: grant.channel_id.clone(),
        role,
        token: grant.token.clone(),
        endpoint_instance_id: b64::encode(instance),
        caps: None,
    };
    let (mut records, _, info) =
        WsRecords::connect_suites(&grant.tunnel_url, &[SuiteName::Fsec1], &options.ws).await?;
    records.send_text(attach.to_json()).await?;
    Ok((records, info, psk))
}

/// The fsec1 credential of a grant that names fsec1. Called before the
/// attach, so a grant of the wrong suite does not spend its token.
pub(crate) fn fsec1_credential(grant: &ChannelInitGrant) -> Result<DirectCredential, Error> {
    let GrantSuite::Fsec1(suite) = grant.default_suite else {
        return Err(Error::InvalidGrant(
            "the grant names the noise suite: connect with connect_tunnel_with and a noise credential",
        ));
    };
    Ok(DirectCredential {
        psk: psk(grant)?,
        suite,
        channel_id: Some(grant.channel_id.clone()),
        init_exp_unix_s: grant.channel_init_expire_at_unix_s,
    })
}

fn psk(grant: &ChannelInitGrant) -> Result<Zeroizing<[u8; 32]>, Error> {
    grant::decode_psk(&grant.e2ee_psk_b64u).ok_or(Error::InvalidGrant(
        "e2ee_psk_b64u is not 32 bytes of base64url",
    ))
}

/// Refuses a grant that does not name the noise suite (before the attach,
/// as [`fsec1_credential`]).
pub(crate) fn require_noise(grant: &ChannelInitGrant) -> Result<(), Error> {
    if grant.default_suite == GrantSuite::Noise {
        Ok(())
    } else {
        Err(Error::InvalidGrant(
            "the grant names fsec1: connect with connect_tunnel",
        ))
    }
}
