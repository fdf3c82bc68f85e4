//! The wait history of a bake process: the state directory's file, and with
//! `--history ssm` each recipe's parameter in the account.
//!
//! Opened once before the bakes start and saved once after they end, so every bake of the
//! process waits on what the others (and earlier runners) learned. The account's windows
//! win over the file's: they are the most recent any runner saved. Neither store can fail
//! a bake: a read that fails means cold waits, a write that fails is a warning.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::future::join_all;

use super::{BakeEvent, HistoryAction};
use crate::aws::Aws;
use crate::aws::history::account::{self, Location, Stored, Written};
use crate::aws::history::{History, Window};
use crate::report::Reporter;
use crate::tags;

/// The history the bakes of one process share, and where it is saved at the end.
pub struct WaitHistory {
    pub history: Arc<History>,
    /// The state directory's file.
    file: PathBuf,
    account: Option<InAccount>,
}

/// The account's side: the SSM client of the bakes' region and each recipe's parameter as
/// it was read (those that could not be read are not written either).
struct InAccount {
    ssm: aws_sdk_ssm::Client,
    parameters: Vec<(String, Stored)>,
}

impl WaitHistory {
    /// Reads the history `file` (the state directory's `timings.json`) and, for
    /// `Location::Ssm`, the parameter of each of `recipes` (once per name) in the region
    /// the bakes run in.
    pub async fn open(
        aws: &Aws,
        location: &Location,
        file: PathBuf,
        recipes: &[&str],
        reporter: &Reporter,
    ) -> WaitHistory {
        let history = Arc::new(History::load(file.clone()));
        if let Some(ignored) = history.ignored() {
            reporter.say(&format!(
                "warning: wait history: {}: {ignored}; those waits start cold",
                file.display()
            ));
        }
        let local = |history| WaitHistory {
            history,
            file: file.clone(),
            account: None,
        };
        let Location::Ssm { prefix } = location else {
            return local(history);
        };
        let ssm = match aws.ssm(aws.region()) {
            Ok(ssm) => ssm,
            Err(e) => {
                let names = recipes.iter().map(|r| account::parameter_name(prefix, r));
                for name in names {
                    report_read_failure(reporter, &name, &e.chain());
                }
                return local(history);
            }
        };
        let mut names: Vec<&str> = recipes.to_vec();
        names.sort_unstable();
        names.dedup();
        let reads = join_all(names.iter().map(|recipe| {
            let name = account::parameter_name(prefix, recipe);
            let ssm = &ssm;
            async move { (recipe.to_string(), account::read(ssm, &name).await, name) }
        }))
        .await;
        let mut parameters = Vec::new();
        for (recipe, read, name) in reads {
            match read {
                Ok(stored) => {
                    if let Some(ignored) = crate::aws::history::ignored_windows(&stored.ignored) {
                        reporter.say(&format!(
                            "warning: wait history: SSM parameter {name}: {ignored}; those \
                             waits start cold, and saving drops them"
                        ));
                    }
                    history.merge(&stored.waits);
                    reporter.emit(read_event(&stored));
                    parameters.push((recipe, stored));
                }
                Err(e) => report_read_failure(reporter, &name, &e.chain()),
            }
        }
        WaitHistory {
            history,
            file,
            account: Some(InAccount { ssm, parameters }),
        }
    }

    /// Writes what the process learned back: to the file, and to each parameter that was
    /// read.
    pub async fn save(&self, reporter: &Reporter) {
        if let Err(e) = self.history.save().await {
            reporter.say(&format!(
                "warning: wait history: cannot write {}: {e}",
                self.file.display()
            ));
        }
        let Some(account) = &self.account else {
            return;
        };
        let learned = self.history.learned();
        let writes = join_all(account.parameters.iter().map(|(recipe, stored)| {
            let learned = of_recipe(&learned, recipe);
            async move {
                let description = format!(
                    "amibake: how long {recipe}'s waits took (a hint for the next bake; safe to delete)"
                );
                let tags = BTreeMap::from([
                    (tags::CREATED_BY.to_string(), tags::CREATED_BY_VALUE.to_string()),
                    (tags::RECIPE.to_string(), recipe.clone()),
                ]);
                let written =
                    account::write(&account.ssm, stored, &learned, &description, &tags).await;
                (stored.name.clone(), written)
            }
        }))
        .await;
        for (parameter, written) in writes {
            let (action, waits, error) = match written {
                Ok((Written::Created, n)) => (HistoryAction::Created, n, None),
                Ok((Written::Updated, n)) => (HistoryAction::Updated, n, None),
                Ok((Written::Unchanged, n)) => (HistoryAction::Unchanged, n, None),
                Err(e) => (HistoryAction::SaveFailed, 0, Some(e.chain())),
            };
            reporter.emit(BakeEvent::History {
                action,
                parameter,
                waits,
                error,
            });
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

fn report_read_failure(reporter: &Reporter, parameter: &str, error: &str) {
    reporter.emit(BakeEvent::History {
        action: HistoryAction::ReadFailed,
        parameter: parameter.to_string(),
        waits: 0,
        error: Some(error.to_string()),
    });
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
