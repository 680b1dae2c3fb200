//! Extractors that answer bad input in our error format instead of axum's plain text.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request, rejection::BytesRejection},
    http::{StatusCode, request::Parts},
};
use serde::{
    Deserialize, Deserializer,
    de::{DeserializeOwned, Error as _},
};

use super::error::ApiError;

/// A JSON body. The content type is not checked: `curl -d '{…}'` sends
/// `application/x-www-form-urlencoded`, and our users' scripts rely on that working.
pub(crate) struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(JsonBody)
    }
}

fn body_rejection(r: BytesRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("request body is too large".to_owned())
    } else {
        ApiError::BadRequest {
            message: format!("cannot read request body: {r}"),
            field: None,
        }
    }
}

/// Parses JSON, naming the field at fault: a syntax error is a 400, a body that is
/// JSON but of the wrong shape (unknown field, wrong type, missing field) a 422.
/// Syntax is checked first on its own, because serde_json reports some type errors
/// (a number where an enum string belongs) with syntax-error wording.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // A good body parses in one pass; only a bad one pays for the two passes below,
    // which name what is wrong.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest {
            message: "request body is empty; send a JSON object".to_owned(),
            field: None,
        });
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest {
            message: format!("malformed JSON: {e}"),
            field: None,
        })?;
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        let field = quoted_field(&message).or_else(|| (path != ".").then_some(path));
        ApiError::Unprocessable { message, field }
    })
}

/// serde names unknown and missing fields in backquotes: "unknown field `foo`".
fn quoted_field(message: &str) -> Option<String> {
    let is_field_error =
        message.starts_with("unknown field") || message.starts_with("missing field");
    if !is_field_error {
        return None;
    }
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

/// Query parameters parsed into `T`, the same struct the OpenAPI document lists with
/// `IntoParams`, so the document and the parsing cannot drift apart. An empty value
/// counts as absent, the first of repeated keys wins, and unknown keys are ignored.
/// Each field of `T` reads its value with one of [`query_text`], [`query_parsed`] or
/// [`query_number`]; a bad value is a 422 naming the parameter.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(Query)
    }
}

/// Stands for the parameter's name in a value's error message; see [`query_number`].
const FIELD: &str = "{field}";

/// Parses a query string into `T`; see [`Query`].
pub(crate) fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query).map_err(|e| ApiError::BadRequest {
            message: format!("malformed query string: {e}"),
            field: None,
        })?;
    let mut seen = std::collections::HashSet::new();
    let pairs = pairs
        .into_iter()
        .filter(|(key, _)| seen.insert(key.clone()))
        .filter(|(_, value)| !value.is_empty());
    let map = serde::de::value::MapDeserializer::<_, serde::de::value::Error>::new(pairs);
    serde_path_to_error::deserialize(map).map_err(|err| {
        let field = err.path().to_string();
        let message = err.into_inner().to_string().replace(FIELD, &field);
        ApiError::Unprocessable {
            message,
            field: (field != ".").then_some(field),
        }
    })
}

/// A text parameter, as given.
pub(crate) fn query_text<'de, D: Deserializer<'de>>(value: D) -> Result<Option<String>, D::Error> {
    String::deserialize(value).map(Some)
}

/// A parameter parsed by a domain type's `FromStr`, whose message names the field.
pub(crate) fn query_parsed<'de, D, T>(value: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr<Err = harness_domain::ValidationError>,
{
    let raw = String::deserialize(value)?;
    raw.parse::<T>()
        .map(Some)
        .map_err(|e| D::Error::custom(e.message))
}

/// A whole-number parameter within `MIN..=MAX`.
pub(crate) fn query_number<'de, D, T, const MIN: u64, const MAX: u64>(
    value: D,
) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let raw = String::deserialize(value)?;
    raw.parse::<u64>()
        .ok()
        .filter(|n| (MIN..=MAX).contains(n))
        .and_then(|n| T::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| {
            D::Error::custom(format!(
                "{FIELD} must be a whole number from {MIN} to {MAX}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        title: String,
        count: Option<u32>,
    }

    fn field_of(e: ApiError) -> Option<String> {
        match e {
            ApiError::Unprocessable { field, .. } | ApiError::BadRequest { field, .. } => field,
            _ => None,
        }
    }

    #[test]
    fn an_unknown_field_is_named() {
        let err = parse_json::<Body>(br#"{"title":"x","colour":1}"#).unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("colour"));
    }

    #[test]
    fn a_wrong_type_names_its_field() {
        let err = parse_json::<Body>(br#"{"title":"x","count":"many"}"#).unwrap_err();
        assert!(matches!(&err, ApiError::Unprocessable { .. }));
        assert_eq!(field_of(err).as_deref(), Some("count"));
    }

    #[test]
    fn a_missing_field_is_named() {
        let err = parse_json::<Body>(br#"{}"#).unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("title"));
    }

    #[test]
    fn malformed_json_is_a_bad_request() {
        assert!(matches!(
            parse_json::<Body>(br#"{"title":"#).unwrap_err(),
            ApiError::BadRequest { .. }
        ));
        assert!(matches!(
            parse_json::<Body>(br#"{"title":"a"} trailing"#).unwrap_err(),
            ApiError::BadRequest { .. }
        ));
    }

    #[derive(Debug, serde::Deserialize)]
    struct Listing {
        #[serde(default, deserialize_with = "query_number::<_, _, 1, 500>")]
        limit: Option<u32>,
        #[serde(default, deserialize_with = "query_parsed")]
        priority: Option<harness_domain::task::Priority>,
        #[serde(default, rename = "type", deserialize_with = "query_text")]
        kind: Option<String>,
    }

    #[test]
    fn query_values_are_parsed_into_the_struct() {
        let q: Listing = parse_query("limit=7&priority=p1&type=x&other=1").unwrap();
        assert_eq!(q.limit, Some(7));
        assert_eq!(q.priority, Some(harness_domain::task::Priority::P1));
        assert_eq!(q.kind.as_deref(), Some("x"));
    }

    #[test]
    fn an_empty_value_is_absent_and_the_first_repeat_wins() {
        let q: Listing = parse_query("limit=&limit=5&type=a&type=b").unwrap();
        assert_eq!(q.limit, None);
        assert_eq!(q.kind.as_deref(), Some("a"));
    }

    #[test]
    fn a_number_out_of_range_names_its_parameter() {
        for query in ["limit=0", "limit=501", "limit=-1", "limit=ten"] {
            let err = parse_query::<Listing>(query).unwrap_err();
            let ApiError::Unprocessable { message, field } = err else {
                panic!("{query}: {err:?}");
            };
            assert_eq!(field.as_deref(), Some("limit"));
            assert_eq!(message, "limit must be a whole number from 1 to 500");
        }
    }

    #[test]
    fn a_bad_domain_value_names_its_parameter() {
        let err = parse_query::<Listing>("priority=P9").unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("priority"));
    }
}
