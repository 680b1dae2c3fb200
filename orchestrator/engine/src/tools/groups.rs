//! Tool groups beyond the workspace and harness tools, and the one decision of which
//! agent gets them.

use super::browser::BrowserTools;
use crate::browser;

/// Whether an agent gets the `browser` group: its role's tools name it
/// (`role_has_browser`, e.g. the built-in human-sim), or its own `tools` setting does.
pub fn browser_enabled(role_has_browser: bool, tools: &[String]) -> bool {
    role_has_browser || tools.iter().any(|t| t == browser::GROUP)
}

/// The optional groups of one session.
#[derive(Default)]
pub(crate) struct ToolGroups {
    /// The six browser tools and `report_finding`.
    pub browser: Option<BrowserTools>,
}

impl ToolGroups {
    /// The Anthropic `tools` array entries of the enabled groups.
    pub(crate) fn definitions(&self) -> Vec<serde_json::Value> {
        match &self.browser {
            Some(_) => super::schema::browser_tool_definitions(),
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_with_the_browser_and_agents_listing_it_get_the_browser() {
        assert!(browser_enabled(true, &[]));
        assert!(browser_enabled(false, &["browser".into()]));
        assert!(!browser_enabled(false, &["other".into()]));
        assert!(!browser_enabled(false, &[]));
    }
}
