//! Who asked for a change: written to task history and events as text.

use std::{borrow::Cow, fmt};

use harness_domain::event::NewEvent;

/// The author of a change. The harness's own actors are constants; an integration
/// names its user (`telegram:<user>`), so the name can be owned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Actor {
    name: Cow<'static, str>,
    /// The Telegram update that asked, when one did: the change's event names it, and
    /// storing that event marks the update handled in the change's own transaction.
    update: Option<i64>,
}

impl Actor {
    /// A request to the HTTP API (or the dashboard).
    pub const API: Self = Self::fixed("api");
    /// The scheduler and the attempts it runs.
    pub const SCHEDULER: Self = Self::fixed("scheduler");
    /// Crash recovery at startup.
    pub const STARTUP: Self = Self::fixed("startup");
    /// A planning agent creating subtasks.
    pub const PLANNING: Self = Self::fixed("planning");

    const fn fixed(name: &'static str) -> Self {
        Self {
            name: Cow::Borrowed(name),
            update: None,
        }
    }

    /// An actor named at run time, such as `telegram:<user>`.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: Cow::Owned(name.into()),
            update: None,
        }
    }

    /// The same actor, acting on Telegram update `update_id`.
    pub fn for_update(mut self, update_id: i64) -> Self {
        self.update = Some(update_id);
        self
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The change's event, naming the update that asked (if one did).
    pub fn stamp(&self, event: NewEvent) -> NewEvent {
        event.asked_by_update(self.update)
    }
}

impl From<&'static str> for Actor {
    fn from(name: &'static str) -> Self {
        Self::fixed(name)
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
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

    #[test]
    fn an_actor_for_an_update_names_it_in_the_event() {
        use harness_domain::event::Operation;
        let actor = Actor::named("telegram:ada").for_update(41);
        assert_eq!(actor.as_str(), "telegram:ada");
        let event = actor.stamp(NewEvent::info(Operation::TaskCreated, "x"));
        assert_eq!(event.telegram_update, Some(41));
        let event = Actor::API.stamp(NewEvent::info(Operation::TaskCreated, "x"));
        assert_eq!(event.telegram_update, None);
    }
}
