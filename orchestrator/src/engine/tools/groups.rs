//! Tool groups beyond the workspace and harness tools, and the one decision of which
//! agent gets them. Roles as data will name groups; until then this function decides.

use super::browser::BrowserTools;
use crate::engine::browser;

/// The role that exercises a UI the way people do, and gets the browser by default.
pub const HUMAN_SIM_ROLE: &str = "human-sim";

/// Whether an agent of `role` whose settings list `tools` gets the `browser` group.
pub fn browser_enabled(role: &str, tools: &[String]) -> bool {
    role == HUMAN_SIM_ROLE || tools.iter().any(|t| t == browser::GROUP)
}

/// The optional groups of one session.
#[derive(Default)]
pub struct ToolGroups {
    /// The six browser tools and `report_finding`.
    pub browser: Option<BrowserTools>,
}

impl ToolGroups {
    /// The Anthropic `tools` array entries of the enabled groups.
    pub fn definitions(&self) -> Vec<serde_json::Value> {
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
    fn human_sim_and_agents_listing_browser_get_the_browser() {
        assert!(browser_enabled("human-sim", &[]));
        assert!(browser_enabled("qa", &["browser".into()]));
        assert!(!browser_enabled("build", &["other".into()]));
        assert!(!browser_enabled("build", &[]));
    }
}
