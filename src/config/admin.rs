//! `[admin]`: where the admin endpoint (metrics, status, drain) listens.
//! Off unless configured, and only on a loopback address unless the config
//! says `allow_public = true`: the endpoint shows internals and can take
//! servers out of rotation, so exposing it must be a deliberate choice.

use std::net::SocketAddr;

use serde::Deserialize;

use super::plan::PlanError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    pub bind: String,
    #[serde(default)]
    pub allow_public: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct AdminPlan {
    pub bind: SocketAddr,
}

pub fn build_admin(section: Option<&AdminSection>) -> Result<Option<AdminPlan>, PlanError> {
    let Some(section) = section else {
        return Ok(None);
    };
    let bind = section.bind.parse::<SocketAddr>().map_err(|_| {
        (
            "admin.bind".to_owned(),
            format!(
                "invalid address {:?}: expected \"ip:port\", e.g. \"127.0.0.1:9901\"",
                section.bind
            ),
        )
    })?;
    if !bind.ip().is_loopback() && !section.allow_public {
        return Err((
            "admin.bind".to_owned(),
            format!(
                "{bind} is not a loopback address; the admin endpoint can drain servers \
                 and shows internals, so bind it to 127.0.0.1 or [::1], \
                 or set admin.allow_public = true to expose it on purpose"
            ),
        ));
    }
    Ok(Some(AdminPlan { bind }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(bind: &str, allow_public: bool) -> AdminSection {
        AdminSection {
            bind: bind.into(),
            allow_public,
        }
    }

    #[test]
    fn no_section_means_no_admin_endpoint() {
        assert!(build_admin(None).expect("valid").is_none());
    }

    #[test]
    fn loopback_addresses_are_accepted() {
        for bind in ["127.0.0.1:9901", "[::1]:9901", "127.0.0.2:0"] {
            let plan = build_admin(Some(&section(bind, false))).expect("loopback is fine");
            assert_eq!(plan.map(|p| p.bind.ip().is_loopback()), Some(true));
        }
    }

    #[test]
    fn a_public_address_needs_allow_public() {
        let (key, message) = build_admin(Some(&section("0.0.0.0:9901", false)))
            .expect_err("0.0.0.0 without allow_public is refused");
        assert_eq!(key, "admin.bind");
        assert!(message.contains("allow_public"), "{message}");
        assert!(build_admin(Some(&section("0.0.0.0:9901", true))).is_ok());
    }

    #[test]
    fn host_names_are_refused() {
        let (key, _) = build_admin(Some(&section("localhost:9901", false)))
            .expect_err("a name could resolve to anything");
        assert_eq!(key, "admin.bind");
    }
}
