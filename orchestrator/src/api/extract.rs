//! Extractors that answer bad input in our error format instead of axum's plain text.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request, rejection::BytesRejection},
    http::{StatusCode, request::Parts},
};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body. The content type is not checked: `curl -d '{…}'` sends
/// `application/x-www-form-urlencoded`, and our users' scripts rely on that working.
pub struct JsonBody<T>(pub T);

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
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
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

/// Query parameters as strings; handlers parse each one so errors name the parameter.
pub struct QueryParams(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(QueryParams)
            .map_err(|e| ApiError::BadRequest {
                message: format!("malformed query string: {e}"),
                field: None,
            })
    }
}

impl QueryParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// A number parameter within `min..=max`.
    pub fn number<T>(&self, name: &str, min: T, max: T) -> Result<Option<T>, ApiError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        match raw.parse::<T>() {
            Ok(n) if n >= min && n <= max => Ok(Some(n)),
            _ => Err(ApiError::invalid(
                name,
                format!("{name} must be a whole number from {min} to {max}"),
            )),
        }
    }

    /// A parameter parsed by a domain type's `FromStr`.
    pub fn parsed<T>(&self, name: &str) -> Result<Option<T>, ApiError>
    where
        T: std::str::FromStr<Err = harness_domain::ValidationError>,
    {
        self.get(name)
            .map(|raw| {
                raw.parse::<T>()
                    .map_err(|e| ApiError::invalid(name, e.message))
            })
            .transpose()
    }
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
}
