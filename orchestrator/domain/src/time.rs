//! Timestamps: UTC, RFC 3339, millisecond precision, one format everywhere.
//!
//! The fixed width (`2026-11-27T18:00:00.123Z`) makes stored text sort in time order,
//! so SQL can compare timestamps as strings.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant, written as RFC 3339 with milliseconds and a `Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, utoipa::ToSchema)]
#[schema(value_type = String, format = DateTime, example = "2026-11-27T18:00:00.123Z")]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    pub fn now() -> Self {
        Self::from_datetime(Utc::now())
    }

    /// Truncates to milliseconds so that a value survives a write/read round trip unchanged.
    pub fn from_datetime(dt: DateTime<Utc>) -> Self {
        let millis = dt.timestamp_millis();
        Self(DateTime::from_timestamp_millis(millis).unwrap_or(dt))
    }

    /// Parses any RFC 3339 instant, with any offset, and converts it to UTC.
    pub fn parse(raw: &str) -> Result<Self, chrono::ParseError> {
        DateTime::parse_from_rfc3339(raw).map(|dt| Self::from_datetime(dt.with_timezone(&Utc)))
    }

    pub fn datetime(&self) -> DateTime<Utc> {
        self.0
    }

    pub fn unix_millis(&self) -> i64 {
        self.0.timestamp_millis()
    }

    /// This instant moved by `delta` (negative moves back).
    pub fn plus(&self, delta: chrono::TimeDelta) -> Self {
        Self::from_datetime(self.0 + delta)
    }

    pub fn to_rfc3339(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timestamp_is_written_in_utc_with_milliseconds_and_z() {
        let t = Timestamp::parse("2026-11-27T20:00:00.5+02:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-27T18:00:00.500Z");
    }

    #[test]
    fn a_timestamp_survives_a_round_trip_through_its_text() {
        let t = Timestamp::now();
        assert_eq!(Timestamp::parse(&t.to_rfc3339()).unwrap(), t);
    }

    #[test]
    fn a_naive_timestamp_without_offset_is_rejected() {
        assert!(Timestamp::parse("2026-11-27 18:00:00").is_err());
    }

    #[test]
    fn text_order_is_time_order() {
        let a = Timestamp::parse("2026-11-27T09:59:59.999Z").unwrap();
        let b = Timestamp::parse("2026-11-27T10:00:00.000Z").unwrap();
        assert!(a.to_rfc3339() < b.to_rfc3339());
    }
}
