//! Wire value newtypes shared by all generated shapes.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A `blob` member: raw bytes, serialised as a standard base64 string (the awsJson form, also
/// used by the awsQuery codecs).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Blob(pub Vec<u8>);

impl Blob {
    /// Wraps bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Standard base64 encoding of the bytes.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.0)
    }

    /// Decodes standard base64 (padding optional).
    pub fn from_base64(s: &str) -> Option<Self> {
        decode_base64(s).map(Self)
    }
}

/// Decodes standard base64, accepting missing padding as AWS does.
pub(crate) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok().or_else(|| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(s.trim_end_matches('='))
            .ok()
    })
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Blobs are often key material or ciphertext: print only the length.
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_base64(&s).ok_or_else(|| serde::de::Error::custom("invalid base64 in blob"))
    }
}

/// A `timestamp` member: seconds since the Unix epoch (fractional), serialised as a JSON
/// number (the awsJson form; the XML codec renders ISO 8601).
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub f64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self::from(std::time::SystemTime::now())
    }

    /// Whole seconds since the epoch.
    pub fn from_secs(secs: i64) -> Self {
        Self(secs as f64)
    }

    /// Milliseconds since the epoch.
    pub fn from_millis(ms: i64) -> Self {
        Self(ms as f64 / 1000.0)
    }

    /// Seconds since the epoch.
    pub fn as_secs_f64(self) -> f64 {
        self.0
    }

    /// ISO 8601 with milliseconds, UTC: `2026-11-23T20:16:50.123Z`.
    pub fn to_iso8601(self) -> String {
        crate::codec::format_iso8601(self.0)
    }
}

impl From<std::time::SystemTime> for Timestamp {
    fn from(t: std::time::SystemTime) -> Self {
        match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => Self(d.as_secs_f64()),
            Err(e) => Self(-e.duration().as_secs_f64()),
        }
    }
}

/// Defines a botocore string enum: known variants plus `Unknown(String)` so that unknown wire
/// values never fail deserialisation (validation rejects them on input).
#[macro_export]
#[doc(hidden)]
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $value:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $(
                #[doc = concat!("`", $value, "`")]
                $variant,
            )*
            /// A value not in the model's enum.
            Unknown(String),
        }

        impl $name {
            /// Every value the model allows, in model order.
            pub const VALUES: &'static [&'static str] = &[$($value),*];

            /// The wire value.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $value,)*
                    Self::Unknown(s) => s,
                }
            }
        }

        impl ::std::convert::From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($value => Self::$variant,)*
                    other => Self::Unknown(other.to_owned()),
                }
            }
        }

        impl ::std::default::Default for $name {
            fn default() -> Self {
                Self::Unknown(String::new())
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                Ok(Self::from(s.as_str()))
            }
        }
    };
}
