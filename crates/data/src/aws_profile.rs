//! Keys from a profile of the AWS shared files, found where the AWS CLI finds
//! them: section `[name]` of the credentials file (`$AWS_SHARED_CREDENTIALS_FILE`,
//! else `~/.aws/credentials`), else `[profile name]` (or `[default]`) of the
//! config file (`$AWS_CONFIG_FILE`, else `~/.aws/config`). Read once, when
//! the location opens: a profile changed later needs the location reopened.
//!
//! The files are INI with `key = value` lines and `#`/`;` comments; a small
//! reader does it rather than a crate for one function.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::cloud::S3Keys;
use crate::{DataError, Result};

/// The keys of profile `name` in the AWS shared files of this process's environment.
pub(crate) fn load(name: &str) -> Result<S3Keys> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    load_from(
        name,
        file("AWS_SHARED_CREDENTIALS_FILE", "credentials").as_deref(),
        file("AWS_CONFIG_FILE", "config").as_deref(),
    )
}

fn load_from(name: &str, credentials: Option<&Path>, config: Option<&Path>) -> Result<S3Keys> {
    // The config file names a profile `[profile name]`; `[default]` (or
    // `[profile default]`) is the default one.
    let mut config_sections = vec![format!("profile {name}")];
    if name == "default" {
        config_sections.push(name.to_string());
    }
    let sources = [
        (credentials, vec![name.to_string()]),
        (config, config_sections),
    ];
    let mut searched = Vec::new();
    let mut incomplete = None;
    for (path, sections) in sources {
        let Some(path) = path else { continue };
        searched.push(path.display().to_string());
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(DataError::Config(format!(
                    "profile {name}: reading {}: {e}",
                    path.display()
                )));
            }
        };
        let Some(mut keys) = sections.iter().find_map(|s| section_of(&text, s)) else {
            continue;
        };
        let mut take = |key: &str| keys.remove(key).filter(|v| !v.is_empty());
        match (take("aws_access_key_id"), take("aws_secret_access_key")) {
            (Some(access_key), Some(secret_key)) => {
                return Ok(S3Keys {
                    access_key,
                    secret_key,
                    session_token: take("aws_session_token"),
                });
            }
            // As the AWS CLI does, the next file may still have them.
            _ => incomplete = Some(path.display().to_string()),
        }
    }
    Err(DataError::Config(match incomplete {
        Some(path) => {
            format!("profile {name} in {path} lacks aws_access_key_id or aws_secret_access_key")
        }
        None if searched.is_empty() => format!(
            "no profile {name}: no HOME, AWS_SHARED_CREDENTIALS_FILE or AWS_CONFIG_FILE to find it in"
        ),
        None => format!("no profile {name} in {}", searched.join(" or ")),
    }))
}

/// The `key = value` (or `key: value`) pairs of `[section]`, names
/// lowercased; None without it. Text after a header's `]` is ignored.
fn section_of(text: &str, section: &str) -> Option<HashMap<String, String>> {
    let mut found = None;
    let mut current = false;
    for line in text.trim_start_matches('\u{feff}').lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[') {
            let header = header.split(']').next().unwrap_or_default();
            current = header.split_whitespace().collect::<Vec<_>>().join(" ") == section;
            if current {
                found.get_or_insert_with(HashMap::new);
            }
            continue;
        }
        let pair = line.split_once(['=', ':']);
        if let (true, Some(map), Some((key, value))) = (current, found.as_mut(), pair) {
            map.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDENTIALS: &str = "\
# keys of the team
[default]
aws_access_key_id = DEFAULTKEY
aws_secret_access_key = default-secret

[backup]
aws_access_key_id=BACKUPKEY
aws_secret_access_key = backup = secret ; with signs
aws_session_token = TOKEN
[half]
aws_access_key_id = HALF
[commented] # a header with a comment after it
aws_access_key_id: COLONKEY
aws_secret_access_key: colon-secret
";
    const CONFIG: &str = "\
[default]
region = eu-west-1
[profile  fromconfig]
aws_access_key_id = CONFIGKEY
aws_secret_access_key = config-secret
[fromconfig]
aws_access_key_id = NOT-A-PROFILE-HEADER
[profile half]
aws_access_key_id = HALF
aws_secret_access_key = half-secret
";

    fn files() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (credentials, config) = (dir.path().join("credentials"), dir.path().join("config"));
        std::fs::write(&credentials, CREDENTIALS).expect("write");
        std::fs::write(&config, CONFIG).expect("write");
        (dir, credentials, config)
    }

    #[test]
    fn profiles_are_read_as_the_aws_cli_reads_them() {
        let (_dir, credentials, config) = files();
        let load = |name| load_from(name, Some(&credentials), Some(&config));
        let backup = load("backup").expect("backup");
        assert_eq!(backup.access_key, "BACKUPKEY");
        assert_eq!(backup.secret_key, "backup = secret ; with signs");
        assert_eq!(backup.session_token.as_deref(), Some("TOKEN"));
        let default = load("default").expect("default");
        assert_eq!(
            (default.access_key.as_str(), default.session_token),
            ("DEFAULTKEY", None)
        );
        assert_eq!(load("fromconfig").expect("config").access_key, "CONFIGKEY");
        // A header's trailing comment ends neither it nor the section before.
        assert_eq!(
            load("commented").expect("commented").secret_key,
            "colon-secret"
        );
        assert_eq!(load("default").expect("default").access_key, "DEFAULTKEY");
        // Keys a credentials section lacks come from the config file.
        assert_eq!(load("half").expect("half").secret_key, "half-secret");
    }

    #[test]
    fn a_missing_or_incomplete_profile_is_a_clear_error() {
        let (dir, credentials, config) = files();
        let error = |name, credentials: &Path| {
            load_from(name, Some(credentials), Some(&config))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(error("nosuch", &credentials).contains("no profile nosuch in"));
        let only_credentials = load_from("half", Some(&credentials), None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(only_credentials.contains("lacks aws_access_key_id or aws_secret_access_key"));
        // A credentials file that is not there: the config file still answers.
        assert!(error("fromconfig", &dir.path().join("none")).is_empty());
    }
}
