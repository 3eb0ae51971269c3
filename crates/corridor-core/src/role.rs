//! The two endpoint roles of a channel.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which side of a channel an endpoint is; on the wire `1` (client) or `2` (server).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The side that dials and opens streams (odd yamux ids).
    Client,
    /// The side that answers: the yamux server.
    Server,
}

impl Role {
    /// The wire number of this role.
    pub const fn as_u8(self) -> u8 {
        match self {
            Role::Client => 1,
            Role::Server => 2,
        }
    }

    /// The role for a wire number, if it names one.
    pub const fn from_u8(value: u8) -> Option<Role> {
        match value {
            1 => Some(Role::Client),
            2 => Some(Role::Server),
            _ => None,
        }
    }

    /// The other side of the channel.
    pub const fn peer(self) -> Role {
        match self {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        }
    }

    /// A lower-case name for logs and metric labels.
    pub const fn name(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
        }
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.as_u8())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = u8::deserialize(deserializer)?;
        Role::from_u8(value)
            .ok_or_else(|| serde::de::Error::custom(format_args!("invalid role {value}")))
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "client" | "1" => Ok(Role::Client),
            "server" | "2" => Ok(Role::Server),
            other => Err(format!("unknown role {other:?}: expected client or server")),
        }
    }
}
