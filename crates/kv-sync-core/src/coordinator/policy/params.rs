//! The routes' query parameters, read strictly: a flag that is not
//! `true`, `false`, `1` or `0` (any case) is an error naming it, not a
//! silent "no" (`?full=TRUE` must run a full sync, `?full=maybe` must not
//! run anything).

use std::fmt;

use crate::engine::progress::RunMode;

/// What `POST /sync-kv-now` was asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncParams {
    /// Work on the run inside the request (the default), or answer at once.
    pub wait: bool,
    /// What the run is to do.
    pub mode: RunMode,
    pub dry_run: bool,
}

/// A parameter whose value cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    pub param: String,
    pub value: String,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "query parameter `{}` must be true, false, 1 or 0, not {:?}",
            self.param, self.value
        )
    }
}

impl std::error::Error for ParamError {}

/// `true`/`1` or `false`/`0`, in any case.
pub fn flag(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

const FLAGS: &[&str] = &["wait", "full", "rewrite", "allow_mass_delete", "dry_run"];

impl SyncParams {
    /// Reads the flags among `pairs`; other parameters are left to their
    /// readers (`sync`) or ignored (n8n and friends add their own).
    pub fn read<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ParamError> {
        let mut params = SyncParams {
            wait: true,
            ..SyncParams::default()
        };
        for (name, value) in pairs {
            if !FLAGS.contains(&name) {
                continue;
            }
            let on = flag(value).ok_or_else(|| ParamError {
                param: name.to_string(),
                value: crate::engine::excerpt::excerpt(value, 40),
            })?;
            match name {
                "wait" => params.wait = on,
                "full" => params.mode.full = on,
                "rewrite" => params.mode.rewrite = on,
                "allow_mass_delete" => params.mode.allow_mass_delete = on,
                _ => params.dry_run = on,
            }
        }
        Ok(params)
    }

    /// The flags as the coordinator reads them back.
    pub fn to_query(&self) -> String {
        format!(
            "wait={}&full={}&rewrite={}&allow_mass_delete={}&dry_run={}",
            self.wait, self.mode.full, self.mode.rewrite, self.mode.allow_mass_delete, self.dry_run
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_take_true_false_1_0_in_any_case_and_name_a_bad_one() {
        let p = SyncParams::read([
            ("full", "TRUE"),
            ("rewrite", "1"),
            ("wait", "False"),
            ("source", "n8n"),
        ])
        .unwrap();
        assert_eq!(
            (p.mode.full, p.mode.rewrite, p.wait, p.dry_run),
            (true, true, false, false)
        );
        let p = SyncParams::read([("full", "1")]).unwrap();
        assert!(p.mode.full && p.wait);
        let e = SyncParams::read([("full", "maybe")]).unwrap_err();
        assert_eq!(e.param, "full");
        assert!(e.to_string().contains("`full`"), "{e}");
        assert!(SyncParams::read([("dry_run", "")]).is_err());
        assert_eq!(
            SyncParams::read([("allow_mass_delete", "0")]).unwrap(),
            SyncParams {
                wait: true,
                ..SyncParams::default()
            }
        );
        let round_trip = SyncParams::read([("dry_run", "yes")]);
        assert!(round_trip.is_err());
        let p = SyncParams::read([("full", "true"), ("dry_run", "1")]).unwrap();
        let back: Vec<(String, String)> = p
            .to_query()
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect();
        let again = SyncParams::read(back.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap();
        assert_eq!(again, p);
    }
}
