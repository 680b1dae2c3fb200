//! The one error for input that breaks a domain rule.

use std::fmt;

/// A value that broke a rule, named by the field that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Messages already name their field ("title must not be empty").
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Trims `raw` and checks its length in characters.
pub(crate) fn bounded_text(
    field: &'static str,
    raw: &str,
    min: usize,
    max: usize,
) -> Result<String, ValidationError> {
    let trimmed = raw.trim();
    let len = trimmed.chars().count();
    if len < min {
        return Err(ValidationError::new(
            field,
            if min == 1 {
                format!("{field} must not be empty")
            } else {
                format!("{field} must be at least {min} characters")
            },
        ));
    }
    if len > max {
        return Err(ValidationError::new(
            field,
            format!("{field} must be at most {max} characters (got {len})"),
        ));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ValidationError::new(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// Checks a lowercase slug such as `feature` or `build-1`.
pub(crate) fn slug(field: &'static str, raw: &str, max: usize) -> Result<String, ValidationError> {
    let ok = !raw.is_empty()
        && raw.len() <= max
        && raw.starts_with(|c: char| c.is_ascii_lowercase())
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ValidationError::new(
            field,
            format!(
                "{field} must be 1-{max} characters of a-z, 0-9, '-' or '_', starting with a letter"
            ),
        ))
    }
}

/// A database id newtype: positive, `Serialize`d as the bare number, shown as it.
/// `$what` names it in the error for a non-positive one (`task id must be …`).
macro_rules! positive_id {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            pub fn new(raw: i64) -> Result<Self, $crate::ValidationError> {
                if raw > 0 {
                    Ok(Self(raw))
                } else {
                    Err($crate::ValidationError::new(
                        "id",
                        concat!($what, " id must be a positive integer"),
                    ))
                }
            }

            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}
pub(crate) use positive_id;
