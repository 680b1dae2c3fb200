//! Who asked for a change: written to task history and events as text.

use std::{borrow::Cow, fmt};

/// The author of a change. The harness's own actors are constants; an integration
/// names its user (`telegram:<user>`), so the name can be owned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Actor(Cow<'static, str>);

impl Actor {
    /// A request to the HTTP API (or the dashboard).
    pub const API: Self = Self(Cow::Borrowed("api"));
    /// The scheduler and the attempts it runs.
    pub const SCHEDULER: Self = Self(Cow::Borrowed("scheduler"));
    /// Crash recovery at startup.
    pub const STARTUP: Self = Self(Cow::Borrowed("startup"));
    /// A planning agent creating subtasks.
    pub const PLANNING: Self = Self(Cow::Borrowed("planning"));

    /// An actor named at run time, such as `telegram:<user>`.
    pub fn named(name: impl Into<String>) -> Self {
        Self(Cow::Owned(name.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&'static str> for Actor {
    fn from(name: &'static str) -> Self {
        Self(Cow::Borrowed(name))
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_integration_actor_holds_an_owned_name() {
        let user = String::from("ada");
        let actor = Actor::named(format!("telegram:{user}"));
        assert_eq!(actor.as_str(), "telegram:ada");
        assert_eq!(Actor::from("api"), Actor::API);
    }
}
