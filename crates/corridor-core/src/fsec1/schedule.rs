//! fsec1's key schedule: the transcript hash, the session keys derived from
//! the PSK and the exchanged secret, the ack's PSK auth tag, and rekey keys.
//! SHA-256, HMAC and HKDF come from `ring`, the project's one crypto backend.

use super::{Fsec1Error, Suite, VERSION};
use ring::{digest, hkdf, hmac};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

const TRANSCRIPT_LABEL: &[u8] = b"flowersec-e2ee-v1";
const C2S_KEY: &[u8] = b"flowersec-e2ee-v1:c2s:key";
const S2C_KEY: &[u8] = b"flowersec-e2ee-v1:s2c:key";
const REKEY_BASE: &[u8] = b"flowersec-e2ee-v1:rekey_base";
const C2S_NONCE: &[u8] = b"flowersec-e2ee-v1:c2s:nonce_prefix";
const S2C_NONCE: &[u8] = b"flowersec-e2ee-v1:s2c:nonce_prefix";
const REKEY_IKM: &[u8] = b"flowersec-e2ee-v1:rekey";
const REKEY_KEY: &[u8] = b"flowersec-e2ee-v1:rekey:key";

/// The direction a record key protects; bound into rekey derivation.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Direction {
    /// Records the client sends.
    ClientToServer = 1,
    /// Records the server sends.
    ServerToClient = 2,
}

/// Everything the transcript hash covers.
#[derive(Clone, Debug)]
pub struct Transcript<'a> {
    /// The negotiated suite.
    pub suite: Suite,
    /// The client's feature bits.
    pub client_features: u32,
    /// The server's feature bits.
    pub server_features: u32,
    /// The channel id (1 to 65535 bytes).
    pub channel_id: &'a str,
    /// The client's nonce.
    pub nonce_c: [u8; 32],
    /// The server's nonce.
    pub nonce_s: [u8; 32],
    /// The client's ephemeral public key as sent.
    pub client_public: &'a [u8],
    /// The server's ephemeral public key as sent.
    pub server_public: &'a [u8],
}

impl Transcript<'_> {
    /// SHA-256 over the label, version, suite, the client role, both feature
    /// sets, and the length-prefixed channel id, nonces and public keys.
    pub fn hash(&self) -> Result<[u8; 32], Fsec1Error> {
        let fits = |bytes: &[u8]| !bytes.is_empty() && bytes.len() <= usize::from(u16::MAX);
        if !fits(self.channel_id.as_bytes()) {
            return Err(Fsec1Error::InvalidChannelId);
        }
        if !fits(self.client_public) || !fits(self.server_public) {
            return Err(Fsec1Error::InvalidKey);
        }
        let mut context = digest::Context::new(&digest::SHA256);
        context.update(TRANSCRIPT_LABEL);
        context.update(&[VERSION]);
        context.update(&self.suite.as_u16().to_be_bytes());
        // The role byte is always the client's: both sides hash the same transcript.
        context.update(&[crate::Role::Client.as_u8()]);
        context.update(&self.client_features.to_be_bytes());
        context.update(&self.server_features.to_be_bytes());
        update_u16_prefixed(&mut context, self.channel_id.as_bytes());
        context.update(&self.nonce_c);
        context.update(&self.nonce_s);
        update_u16_prefixed(&mut context, self.client_public);
        update_u16_prefixed(&mut context, self.server_public);
        let mut out = [0u8; 32];
        out.copy_from_slice(context.finish().as_ref());
        Ok(out)
    }
}

fn update_u16_prefixed(context: &mut digest::Context, bytes: &[u8]) {
    // Callers have checked the length fits in a u16.
    context.update(&(bytes.len() as u16).to_be_bytes());
    context.update(bytes);
}

/// The keys of one session, derived once per handshake.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SessionKeys {
    /// AES-256-GCM key of client-to-server records.
    pub c2s_key: [u8; 32],
    /// AES-256-GCM key of server-to-client records.
    pub s2c_key: [u8; 32],
    /// Nonce prefix of client-to-server records.
    pub c2s_nonce_prefix: [u8; 4],
    /// Nonce prefix of server-to-client records.
    pub s2c_nonce_prefix: [u8; 4],
    /// The base every rekey derives from.
    pub rekey_base: [u8; 32],
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeys([REDACTED])")
    }
}

/// A byte length for `ring`'s HKDF output.
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand<const N: usize>(prk: &hkdf::Prk, info: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    // HKDF-SHA256 can expand up to 8160 bytes; 32 and 4 always succeed.
    if let Ok(okm) = prk.expand(&[info], Len(N)) {
        let _ = okm.fill(&mut out);
    }
    out
}

/// HKDF-SHA256 with the PSK as salt over `shared_secret || transcript`.
pub fn session_keys(
    psk: &[u8],
    shared_secret: &[u8; 32],
    transcript: &[u8; 32],
) -> Result<SessionKeys, Fsec1Error> {
    if psk.len() != 32 {
        return Err(Fsec1Error::InvalidPsk);
    }
    let mut ikm = Zeroizing::new([0u8; 64]);
    ikm[..32].copy_from_slice(shared_secret);
    ikm[32..].copy_from_slice(transcript);
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, psk).extract(ikm.as_ref());
    Ok(SessionKeys {
        c2s_key: expand(&prk, C2S_KEY),
        s2c_key: expand(&prk, S2C_KEY),
        rekey_base: expand(&prk, REKEY_BASE),
        c2s_nonce_prefix: expand(&prk, C2S_NONCE),
        s2c_nonce_prefix: expand(&prk, S2C_NONCE),
    })
}

/// HMAC-SHA256(PSK, transcript || timestamp as u64 BE): the ack's proof.
pub fn auth_tag(psk: &[u8], transcript: &[u8; 32], timestamp_unix_s: u64) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, psk);
    let mut context = hmac::Context::with_key(&key);
    context.update(transcript);
    context.update(&timestamp_unix_s.to_be_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(context.sign().as_ref());
    out
}

/// Checks an ack's auth tag in constant time.
pub fn verify_auth_tag(
    psk: &[u8],
    transcript: &[u8; 32],
    timestamp_unix_s: u64,
    tag: &[u8],
) -> Result<(), Fsec1Error> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, psk);
    let mut message = [0u8; 40];
    message[..32].copy_from_slice(transcript);
    message[32..].copy_from_slice(&timestamp_unix_s.to_be_bytes());
    hmac::verify(&key, &message, tag).map_err(|_| Fsec1Error::Authentication)
}

/// The key that replaces a direction's key after the rekey record at `sequence`.
pub fn rekey_key(
    rekey_base: &[u8; 32],
    transcript: &[u8; 32],
    sequence: u64,
    direction: Direction,
) -> Zeroizing<[u8; 32]> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, rekey_base);
    let mut context = hmac::Context::with_key(&key);
    context.update(transcript);
    context.update(&sequence.to_be_bytes());
    context.update(&[direction as u8]);
    let salt = context.sign();
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt.as_ref()).extract(REKEY_IKM);
    Zeroizing::new(expand(&prk, REKEY_KEY))
}
