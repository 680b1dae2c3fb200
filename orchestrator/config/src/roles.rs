//! Settings of roles: `[roles.NAME]` and `[routing]` (checked into a `RoleRegistry`),
//! the size → model/timeout tiers the evaluator's estimate selects, which categories
//! validation reviews, how often SIA reviews the board, and where Chromium is.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::Duration,
};

use harness_domain::{
    agent::ModelName,
    role::{RoleRegistry, RoleSpec, Size},
    task::Category,
};
use serde::Deserialize;

use super::{ConfigError, invalid};

/// `[sizes.large]`: what a task of that size runs with.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeFile {
    pub model: Option<String>,
    pub timeout_secs: Option<f64>,
}

/// The roles' part of `harness.toml`, as written.
#[derive(Debug, Clone, Default)]
pub struct RolesFile {
    pub roles: BTreeMap<String, RoleSpec>,
    /// Category → role: moves the category to that role.
    pub routing: BTreeMap<String, String>,
    pub sizes: BTreeMap<String, SizeFile>,
    /// Categories whose verified diffs a validation agent reviews before the merge.
    pub validate_categories: Option<Vec<String>>,
    /// Hours between SIA's board reviews; 0 turns the schedule off [default: 24].
    pub sia_every_hours: Option<f64>,
}

/// What a size runs with. `None` fields keep the agent's model / the session timeout
/// scaled by the size (small ½, medium 1, large 2).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SizeTier {
    pub model: Option<ModelName>,
    pub timeout: Option<Duration>,
}

/// Validated role settings.
#[derive(Debug, Clone)]
pub struct RoleSettings {
    pub registry: RoleRegistry,
    pub sizes: BTreeMap<Size, SizeTier>,
    pub validate_categories: BTreeSet<String>,
    /// `None`: SIA runs only when tasks block or validation rejects twice.
    pub sia_every: Option<Duration>,
    /// HARNESS_CHROMIUM: where the browser tool finds Chromium.
    pub chromium: Option<PathBuf>,
}

impl Default for RoleSettings {
    fn default() -> Self {
        Self::load(RolesFile::default(), None).expect("the default roles are valid")
    }
}

/// Where Chromium is looked for when HARNESS_CHROMIUM is not set.
pub(crate) const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

impl RoleSettings {
    pub fn load(file: RolesFile, chromium: Option<PathBuf>) -> Result<Self, ConfigError> {
        let registry = RoleRegistry::build(file.roles, file.routing)?;
        for role in registry.iter() {
            let refused = |field: &'static str, message: String| {
                ConfigError::Role(harness_domain::role::RoleError {
                    role: role.name.to_string(),
                    field,
                    message,
                })
            };
            harness_engine::browser::OriginPolicy::with_origins(&role.browser_origins)
                .map_err(|e| refused("browser_origins", e.to_string()))?;
            harness_engine::egress::Egress::parse(&role.egress.join(","))
                .map_err(|e| refused("egress", e))?;
        }
        let mut sizes = BTreeMap::new();
        for (raw, tier) in file.sizes {
            let size: Size = raw.parse().map_err(|_| {
                invalid(
                    "harness.toml [sizes]",
                    &format!("unknown size '{raw}' (small, medium or large)"),
                )
            })?;
            let model = tier
                .model
                .map(|m| ModelName::parse(&m))
                .transpose()
                .map_err(|e| invalid("harness.toml [sizes] model", &e.message))?;
            let timeout = match tier.timeout_secs {
                Some(s) if s.is_finite() && (1.0..=30.0 * 86_400.0).contains(&s) => {
                    Some(Duration::from_secs_f64(s))
                }
                Some(_) => {
                    return Err(invalid(
                        "harness.toml [sizes] timeout_secs",
                        "must be a number of seconds from 1",
                    ));
                }
                None => None,
            };
            sizes.insert(size, SizeTier { model, timeout });
        }
        let validate_categories = file
            .validate_categories
            .unwrap_or_else(|| vec!["feature".to_owned()])
            .iter()
            .map(|c| {
                Category::parse(c)
                    .map(|c| c.as_str().to_owned())
                    .map_err(|e| invalid("harness.toml validate_categories", &e.message))
            })
            .collect::<Result<_, _>>()?;
        let sia_every = match file.sia_every_hours.unwrap_or(24.0) {
            0.0 => None,
            h if h.is_finite() && h > 0.0 && h <= 24.0 * 365.0 => {
                Some(Duration::from_secs_f64(h * 3600.0))
            }
            _ => {
                return Err(invalid(
                    "harness.toml sia_every_hours",
                    "must be 0 or a number of hours",
                ));
            }
        };
        Ok(Self {
            registry,
            sizes,
            validate_categories,
            sia_every,
            chromium: chromium.filter(|p| !p.as_os_str().is_empty()),
        })
    }

    /// The session timeout of a task of `size`.
    pub fn timeout_for(&self, size: Option<Size>, base: Duration) -> Duration {
        let tier = size.and_then(|s| self.sizes.get(&s));
        match (size, tier.and_then(|t| t.timeout)) {
            (_, Some(timeout)) => timeout,
            (Some(Size::Small), None) => base / 2,
            (Some(Size::Large), None) => base * 2,
            _ => base,
        }
    }

    /// The model a task of `size` runs with, when its tier sets one.
    pub fn model_for(&self, size: Option<Size>) -> Option<&ModelName> {
        size.and_then(|s| self.sizes.get(&s))
            .and_then(|t| t.model.as_ref())
    }

    /// What `role` needs that this machine lacks, if anything.
    pub fn role_problem(&self, role: &harness_domain::role::Role) -> Result<(), String> {
        if role.uses_browser() {
            self.find_chromium()?;
        }
        Ok(())
    }

    /// Chromium for the browser tool, or what to install.
    pub fn find_chromium(&self) -> Result<PathBuf, String> {
        let path = self
            .chromium
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CHROMIUM));
        if Path::new(&path).is_file() {
            Ok(path)
        } else {
            Err(format!(
                "the browser tool needs Chromium: none at {}; install it (Debian: apt-get install chromium) or set HARNESS_CHROMIUM",
                path.display()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_size_scales_the_session_timeout_unless_its_tier_sets_one() {
        let mut file = RolesFile::default();
        file.sizes.insert(
            "large".into(),
            SizeFile {
                model: Some("claude-opus-4-1".into()),
                timeout_secs: Some(7200.0),
            },
        );
        let roles = RoleSettings::load(file, None).unwrap();
        let base = Duration::from_secs(1800);
        assert_eq!(roles.timeout_for(None, base), base);
        assert_eq!(roles.timeout_for(Some(Size::Small), base), base / 2);
        assert_eq!(
            roles.timeout_for(Some(Size::Large), base),
            Duration::from_secs(7200)
        );
        assert_eq!(
            roles.model_for(Some(Size::Large)).unwrap().as_str(),
            "claude-opus-4-1"
        );
        assert!(roles.model_for(Some(Size::Medium)).is_none());
    }

    #[test]
    fn an_unknown_size_is_named() {
        let mut file = RolesFile::default();
        file.sizes.insert("huge".into(), SizeFile::default());
        let err = RoleSettings::load(file, None).unwrap_err();
        assert!(err.to_string().contains("huge"), "{err}");
    }

    #[test]
    fn a_role_widens_its_browser_to_origins_that_parse_and_names_one_that_does_not() {
        let spec = |origins: &[&str]| RoleSpec {
            browser_origins: Some(origins.iter().map(|o| (*o).to_owned()).collect()),
            ..RoleSpec::default()
        };
        let mut file = RolesFile::default();
        file.roles
            .insert("human-sim".into(), spec(&["https://staging.example.com"]));
        let roles = RoleSettings::load(file, None).unwrap();
        let role = roles.registry.get("human-sim").unwrap();
        assert_eq!(role.browser_origins, ["https://staging.example.com"]);

        let mut file = RolesFile::default();
        file.roles
            .insert("human-sim".into(), spec(&["not an origin"]));
        let err = RoleSettings::load(file, None).unwrap_err().to_string();
        assert!(
            err.contains("human-sim") && err.contains("browser_origins"),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }

    #[test]
    fn a_roles_egress_hosts_widen_its_agents_proxy_and_a_bad_one_is_named() {
        let spec = |hosts: &[&str]| RoleSpec {
            egress: Some(hosts.iter().map(|h| (*h).to_owned()).collect()),
            ..RoleSpec::default()
        };
        let mut file = RolesFile::default();
        file.roles.insert(
            "research".into(),
            spec(&["github.com", "*.example.org:443"]),
        );
        let roles = RoleSettings::load(file, None).unwrap();
        assert_eq!(
            roles.registry.get("research").unwrap().egress,
            ["github.com", "*.example.org:443"]
        );

        let mut file = RolesFile::default();
        file.roles.insert("research".into(), spec(&["a b"]));
        let err = RoleSettings::load(file, None).unwrap_err().to_string();
        assert!(err.contains("research") && err.contains("egress"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn a_bad_role_is_named_with_its_field() {
        let mut file = RolesFile::default();
        file.roles.insert(
            "designer".into(),
            RoleSpec {
                prompt: Some("x".into()),
                tools: Some(vec!["hammer".into()]),
                ..RoleSpec::default()
            },
        );
        let err = RoleSettings::load(file, None).unwrap_err().to_string();
        assert!(err.contains("designer") && err.contains("tools"), "{err}");
        assert!(!err.contains('\n'));
    }
}
