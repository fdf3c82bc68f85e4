//! The wait history: the state directory's file, which the bakes of one process share,
//! and with `--history ssm` each bake's own recipe parameter in the account.
//!
//! The process opens the file once before its bakes start and saves it once after they
//! end ([`WaitHistory`]). Each bake reads its recipe's parameter as the first action of
//! its plan ([`crate::plan::Action::ReadHistory`]) and writes it back as one of its
//! closing actions ([`crate::plan::Action::WriteHistory`], after a failure too): the
//! windows merge into the process's history, so every bake waits on what the others (and
//! earlier runners) learned; the account's windows win over the file's, being the most
//! recent any runner saved. Two bakes of one recipe in one process each read and write
//! the same parameter (the later write wins, and holds what both learned). Neither store
//! can fail a bake: a read that fails means cold waits (and no write), a write that fails
//! is a warning.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::{Bake, BakeEvent, HistoryAction};
use crate::aws::Aws;
use crate::aws::history::account::{self, Stored, Written};
use crate::aws::history::{History, Window};
use crate::report::Reporter;
use crate::tags;

/// The history the bakes of one process share, and the file it is saved to at the end.
pub struct WaitHistory {
    pub history: Arc<History>,
    /// The state directory's file.
    file: PathBuf,
}

impl WaitHistory {
    /// Reads the history `file` (the state directory's `timings.json`).
    pub fn open(file: PathBuf, reporter: &Reporter) -> WaitHistory {
        let history = Arc::new(History::load(file.clone()));
        if let Some(ignored) = history.ignored() {
            reporter.say(&format!(
                "warning: wait history: {}: {ignored}; those waits start cold",
                file.display()
            ));
        }
        WaitHistory { history, file }
    }

    /// Writes what the process learned back to the file.
    pub async fn save(&self, reporter: &Reporter) {
        if let Err(e) = self.history.save().await {
            reporter.say(&format!(
                "warning: wait history: cannot write {}: {e}",
                self.file.display()
            ));
        }
    }
}

/// One recipe's wait history in the account: its SSM parameter as it was read (`None`
/// when it could not be read: then it is not written either).
pub struct InAccount {
    ssm: Option<aws_sdk_ssm::Client>,
    recipe: String,
    stored: Option<Stored>,
}

impl InAccount {
    /// Reads `recipe`'s `parameter` in `region` and merges its windows into `history`;
    /// reports what it found.
    pub async fn read(
        aws: &Aws,
        region: &str,
        parameter: &str,
        recipe: &str,
        history: &History,
        reporter: &Reporter,
    ) -> InAccount {
        let ssm = aws.ssm(region).map_err(|e| e.chain());
        let read = match &ssm {
            Ok(ssm) => account::read(ssm, parameter).await.map_err(|e| e.chain()),
            Err(e) => Err(e.clone()),
        };
        let stored = match read {
            Ok(stored) => {
                if let Some(ignored) = crate::aws::history::ignored_windows(&stored.ignored) {
                    reporter.say(&format!(
                        "warning: wait history: SSM parameter {parameter}: {ignored}; those \
                         waits start cold, and saving drops them"
                    ));
                }
                history.merge(&stored.waits);
                reporter.emit(read_event(&stored));
                Some(stored)
            }
            Err(error) => {
                reporter.emit(BakeEvent::History {
                    action: HistoryAction::ReadFailed,
                    parameter: parameter.to_string(),
                    waits: 0,
                    error: Some(error),
                });
                None
            }
        };
        InAccount {
            ssm: ssm.ok(),
            recipe: recipe.to_string(),
            stored,
        }
    }

    /// Writes what `history` learned of this recipe's waits over what was read; reports
    /// what it did. Nothing when the read failed.
    pub async fn write(&self, history: &History, reporter: &Reporter) {
        let (Some(ssm), Some(stored)) = (&self.ssm, &self.stored) else {
            return;
        };
        let recipe = &self.recipe;
        let learned = of_recipe(&history.learned(), recipe);
        let description = format!(
            "amibake: how long {recipe}'s waits took (a hint for the next bake; safe to delete)"
        );
        let tags = BTreeMap::from([
            (
                tags::CREATED_BY.to_string(),
                tags::CREATED_BY_VALUE.to_string(),
            ),
            (tags::RECIPE.to_string(), recipe.clone()),
        ]);
        let written = account::write(ssm, stored, &learned, &description, &tags).await;
        let (action, waits, error) = match written {
            Ok((Written::Created, n)) => (HistoryAction::Created, n, None),
            Ok((Written::Updated, n)) => (HistoryAction::Updated, n, None),
            Ok((Written::Unchanged, n)) => (HistoryAction::Unchanged, n, None),
            Err(e) => (HistoryAction::SaveFailed, 0, Some(e.chain())),
        };
        reporter.emit(BakeEvent::History {
            action,
            parameter: stored.name.clone(),
            waits,
            error,
        });
    }
}

impl Bake<'_> {
    /// [`crate::plan::Action::ReadHistory`]: reads this recipe's parameter.
    pub(super) async fn read_history(&self, parameter: &str) {
        let (recipe, history) = (&self.plan.recipe, &self.options.history);
        let read = InAccount::read(
            &self.aws,
            self.region(),
            parameter,
            recipe,
            history,
            self.reporter,
        )
        .await;
        *self.account.lock().unwrap_or_else(|e| e.into_inner()) = Some(read);
    }

    /// [`crate::plan::Action::WriteHistory`]: writes the parameter read at the start.
    pub(super) async fn write_history(&self) {
        let read = self
            .account
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(account) = read {
            account.write(&self.options.history, self.reporter).await;
        }
    }
}

/// The wait-history key of a command of `recipe` (a step, a check, amibake's own
/// scripts): the one kind of wait that belongs to a recipe; an instance's, the stop's and
/// the image's depend on the region, instance type and OS only.
pub(super) fn command_key(region: &str, recipe: &str, label: &str) -> String {
    format!("command:{region}:{recipe}:{label}")
}

/// What of `learned` goes into `recipe`'s parameter: every wait but other recipes'
/// commands, so several recipes baked at once do not fill each other's 4 KB.
fn of_recipe(learned: &BTreeMap<String, Window>, recipe: &str) -> BTreeMap<String, Window> {
    learned
        .iter()
        .filter(|(key, _)| match key.strip_prefix("command:") {
            Some(rest) => rest.split(':').nth(1) == Some(recipe),
            None => true,
        })
        .map(|(k, w)| (k.clone(), *w))
        .collect()
}

fn read_event(stored: &Stored) -> BakeEvent {
    let action = if !stored.exists {
        HistoryAction::NotFound
    } else if stored.unreadable {
        HistoryAction::Unreadable
    } else {
        HistoryAction::Read
    };
    BakeEvent::History {
        action,
        parameter: stored.name.clone(),
        waits: stored.waits.len(),
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipe_s_parameter_gets_its_own_commands_and_the_shared_waits() {
        let w = Window { lo: 1.0, hi: 2.0 };
        let learned: BTreeMap<String, Window> = [
            command_key("eu-west-1", "web", "step 1"),
            command_key("eu-west-1", "worker", "step 1"),
            "ready:eu-west-1:t3.small:al2023".to_string(),
            "image:eu-west-1".to_string(),
        ]
        .into_iter()
        .map(|k| (k, w))
        .collect();
        let keys: Vec<String> = of_recipe(&learned, "web").into_keys().collect();
        assert_eq!(
            keys,
            [
                "command:eu-west-1:web:step 1",
                "image:eu-west-1",
                "ready:eu-west-1:t3.small:al2023"
            ]
        );
    }
}
