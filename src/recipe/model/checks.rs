//! `validate:` and `boot_test:`: commands run on an instance whose output is checked.
//!
//! Both lists hold the same [`Check`]; they differ in the instance they run on (the
//! builder before the stop, or a fresh instance from the new image).

use serde::{Deserialize, Serialize};

use crate::recipe::types::{Command, InstanceType, Timeout};

/// A command run on an instance whose output is checked.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub name: String,
    pub run: Command,
    /// The check passes only if stdout contains this text.
    #[serde(default)]
    pub expect_stdout: Option<String>,
    #[serde(default)]
    pub expect_exit: i32,
    #[serde(default)]
    pub timeout: Option<Timeout>,
}

/// A fresh instance from the new AMI, checked, then terminated.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BootTest {
    #[serde(default = "super::yes")]
    pub enabled: bool,
    #[serde(default)]
    pub instance_type: Option<InstanceType>,
    #[serde(default)]
    pub checks: Vec<Check>,
}
