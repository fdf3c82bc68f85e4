//! A missing stack: created from a template on the image, confirmed first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::aws::cfn::{self, NewStack, ParamValue, StackInfo};
use crate::aws::poll;
use crate::tags;

use super::change_set::read_template;
use super::{Confirm, DEFAULT_TEMPLATE, Roll, RollError, RollEvent, RollOutcome, VERSION_OUTPUT};

impl Roll<'_> {
    /// The stack does not exist: create it on the image.
    pub(super) async fn create(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        ami: &str,
        confirm: Confirm<'_>,
    ) -> Result<RollOutcome, RollError> {
        let req = &self.req;
        let template = self.template_to_create()?;
        let body = read_template(&template).await?;
        let parameters = self.creation_parameters(ami);
        self.check_allowed(ami).await?;
        self.reporter.emit(RollEvent::Create {
            stack: req.stack.clone(),
            region: self.region().to_string(),
            template,
            ami: ami.to_string(),
            parameters: shown_parameters(&parameters),
            plan: req.plan,
        });
        if req.plan {
            return Ok(RollOutcome::Planned {
                stack: req.stack.clone(),
                ami: ami.to_string(),
                new_stack: true,
                changes: Vec::new(),
            });
        }
        let question = format!("create stack {} in {} on {ami}?", req.stack, self.region());
        if !req.yes && !self.ask(confirm, &question).await {
            return Err(RollError::Declined("nothing was created".into()));
        }
        let tags = BTreeMap::from([(tags::IMAGE.to_string(), ami.to_string())]);
        let alarms = self.alarms();
        let new = NewStack {
            name: &req.stack,
            template_body: &body,
            parameters: &parameters,
            tags: &tags,
            rollback: &alarms,
            token: &req.token,
        };
        let id = poll::retry(|| cfn::create_stack(cfn, &new))
            .await
            .map_err(RollError::rejected("stack", "create"))?;
        let done = self.watch(cfn, &id, None, None).await?;
        self.created(ami, done)
    }

    /// `--template`, else the default template when it is at hand: a stack cannot be
    /// created without one.
    fn template_to_create(&self) -> Result<PathBuf, RollError> {
        match &self.req.template {
            Some(path) => Ok(path.clone()),
            None if Path::new(DEFAULT_TEMPLATE).is_file() => Ok(PathBuf::from(DEFAULT_TEMPLATE)),
            None => Err(RollError::Usage(format!(
                "stack {} does not exist in {}; pass --template FILE to create it",
                self.req.stack,
                self.region()
            ))),
        }
    }

    /// The `--parameter`s, then the image: a new stack has no previous values to keep.
    fn creation_parameters(&self, ami: &str) -> Vec<(String, ParamValue)> {
        let req = &self.req;
        let given = req.parameters.iter().map(|(k, v)| (k, v.as_str()));
        given
            .chain([(&req.image_parameter, ami)])
            .map(|(k, v)| (k.clone(), ParamValue::Value(v.to_string())))
            .collect()
    }

    /// How the creation ended: on the image, or failed (a stack whose creation failed
    /// must be deleted before it can be created again).
    fn created(&self, ami: &str, done: StackInfo) -> Result<RollOutcome, RollError> {
        let stack = &self.req.stack;
        if done.status == "CREATE_COMPLETE" {
            return Ok(RollOutcome::Created {
                stack: stack.clone(),
                ami: ami.to_string(),
                launch_template_version: done.output(VERSION_OUTPUT).map(str::to_string),
            });
        }
        Err(RollError::Failed {
            stack: stack.clone(),
            reason: self.failure_reason(&done),
            hint: format!(
                "a stack whose creation failed cannot be updated; delete it before trying again: aws cloudformation delete-stack --stack-name {stack} --region {}",
                self.region()
            ),
            status: done.status,
        })
    }
}

/// The parameters as the user may see them: secret-looking values masked.
fn shown_parameters(parameters: &[(String, ParamValue)]) -> BTreeMap<String, String> {
    parameters
        .iter()
        .filter_map(|(k, v)| match v {
            ParamValue::Value(_) if looks_secret(k) => Some((k.clone(), "***".to_string())),
            ParamValue::Value(v) => Some((k.clone(), v.clone())),
            ParamValue::Previous => None,
        })
        .collect()
}

/// Parameters whose values are not shown (NoEcho ones usually are named like this).
fn looks_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token", "credential", "privatekey"]
        .iter()
        .any(|w| key.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_parameters_are_not_shown() {
        assert!(looks_secret("DbPassword"));
        assert!(looks_secret("ApiToken"));
        assert!(!looks_secret("ImageId"));
        assert!(!looks_secret("Subnets"));
    }
}
