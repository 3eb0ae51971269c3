//! One-time enrollment tokens: `ce1.<id>.<secret>`. The id finds the row;
//! only the secret's SHA-256 is stored, and it is compared in constant
//! time, so neither the database nor the timing gives a token away.

use corridor_core::b64;
use ring::digest;
use subtle::ConstantTimeEq;

const PREFIX: &str = "ce1";
const ID_BYTES: usize = 9;
const SECRET_BYTES: usize = 32;

/// A token as issued: show it once, store only [`TokenParts::secret_hash`].
#[derive(Clone, PartialEq, Eq)]
pub struct TokenParts {
    /// The public half, the row's key.
    pub id: String,
    /// The secret half.
    secret: [u8; SECRET_BYTES],
}

impl std::fmt::Debug for TokenParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenParts")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl TokenParts {
    /// A fresh random token.
    pub fn generate(rng: &mut impl rand_core::CryptoRngCore) -> TokenParts {
        let mut id = [0u8; ID_BYTES];
        let mut secret = [0u8; SECRET_BYTES];
        rng.fill_bytes(&mut id);
        rng.fill_bytes(&mut secret);
        TokenParts {
            id: b64::encode(id),
            secret,
        }
    }

    /// Parses the text form; `None` for anything else (no detail: a
    /// malformed token is refused like a wrong one).
    ///
    /// ```
    /// use corridor_identity::token::TokenParts;
    /// let token = TokenParts::generate(&mut rand_core::OsRng);
    /// let text = token.to_text();
    /// assert!(text.starts_with("ce1."));
    /// assert_eq!(TokenParts::parse(&text), Some(token));
    /// assert_eq!(TokenParts::parse("ce1.nope"), None);
    /// ```
    pub fn parse(text: &str) -> Option<TokenParts> {
        let mut parts = text.trim().split('.');
        let (prefix, id, secret) = (parts.next()?, parts.next()?, parts.next()?);
        if prefix != PREFIX || parts.next().is_some() {
            return None;
        }
        b64::decode_array::<ID_BYTES>(id)?;
        Some(TokenParts {
            id: id.to_owned(),
            secret: b64::decode_array::<SECRET_BYTES>(secret)?,
        })
    }

    /// The text handed to the user.
    pub fn to_text(&self) -> String {
        format!("{PREFIX}.{}.{}", self.id, b64::encode(self.secret))
    }

    /// What the store keeps.
    pub fn secret_hash(&self) -> Vec<u8> {
        digest::digest(&digest::SHA256, &self.secret)
            .as_ref()
            .to_vec()
    }

    /// Whether `stored` is this token's hash, in constant time.
    pub fn matches(&self, stored: &[u8]) -> bool {
        self.secret_hash().ct_eq(stored).into()
    }
}
