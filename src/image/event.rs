//! What the image layer tells the user, the same in every command: resources made and
//! removed, copies, shares.

use std::fmt;

use serde::Serialize;

use crate::event::{Progress, Said};

/// An event of the image layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ImageEvent {
    /// A resource made or removed.
    Resource(Resource),
    /// A copy to another region moved on.
    Copy {
        region: String,
        state: CopyState,
        ami_id: Option<String>,
        error: Option<String>,
    },
    /// An image and its snapshots were shared.
    Share {
        region: String,
        ami_id: String,
        /// The accounts the line names (`promote --share-with`); a bake's sharing, which
        /// may be with organizations too, names none.
        #[serde(skip_serializing_if = "Option::is_none")]
        accounts: Option<Vec<String>>,
    },
}

/// Where a copy to another region stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyState {
    /// Started by this run.
    Pending,
    /// Started by an earlier run, and taken up again.
    Reused,
    Available,
    Failed,
}

impl CopyState {
    pub fn as_str(self) -> &'static str {
        match self {
            CopyState::Pending => "pending",
            CopyState::Reused => "reused",
            CopyState::Available => "available",
            CopyState::Failed => "failed",
        }
    }

    /// The copy is over, one way or the other.
    pub fn is_final(self) -> bool {
        matches!(self, CopyState::Available | CopyState::Failed)
    }
}

impl std::str::FromStr for CopyState {
    type Err = String;

    fn from_str(s: &str) -> Result<CopyState, String> {
        [
            CopyState::Pending,
            CopyState::Reused,
            CopyState::Available,
            CopyState::Failed,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
        .ok_or_else(|| format!("`{s}` is not a copy state"))
    }
}

impl fmt::Display for CopyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resource amibake made or removed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resource {
    pub kind: ResourceKind,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// For an instance: `builder` or `boot-test`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    /// Absent when the resource was just made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<ResourceState>,
    /// What the line adds in brackets: an instance's type, an image's name.
    #[serde(skip)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    SecurityGroup,
    Instance,
    Image,
    Snapshot,
}

impl ResourceKind {
    /// The kind as JSON and the run journal name it: `security_group`, `instance`, …
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::SecurityGroup => "security_group",
            ResourceKind::Instance => "instance",
            ResourceKind::Image => "image",
            ResourceKind::Snapshot => "snapshot",
        }
    }

    /// The kind as a line names it: `security group`, `instance`, …
    pub fn noun(self) -> &'static str {
        match self {
            ResourceKind::SecurityGroup => "security group",
            ResourceKind::Instance => "instance",
            ResourceKind::Image => "image",
            ResourceKind::Snapshot => "snapshot",
        }
    }

    /// What removing a resource of this kind makes of it.
    fn removed(self) -> ResourceState {
        match self {
            ResourceKind::Instance => ResourceState::Terminating,
            ResourceKind::Image => ResourceState::Deregistered,
            ResourceKind::SecurityGroup | ResourceKind::Snapshot => ResourceState::Deleted,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceState {
    Terminating,
    Deregistered,
    Deleted,
}

impl ImageEvent {
    /// A copy to `region` moved on.
    pub fn copy(region: &str, state: CopyState, id: Option<&str>, error: Option<String>) -> Self {
        ImageEvent::Copy {
            region: region.to_string(),
            state,
            ami_id: id.map(String::from),
            error,
        }
    }

    /// A resource amibake made was removed (terminating, deregistered, deleted).
    pub fn removed(kind: ResourceKind, region: &str, id: &str) -> Self {
        ImageEvent::Resource(Resource {
            kind,
            id: id.to_string(),
            region: Some(region.to_string()),
            role: None,
            state: Some(kind.removed()),
            note: None,
        })
    }
}

impl fmt::Display for ImageEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageEvent::Resource(r) => r.fmt(f),
            ImageEvent::Copy {
                region,
                state,
                ami_id,
                error,
            } => match (ami_id, error) {
                (_, Some(e)) => write!(f, "copy to {region}: {state}: {e}"),
                (Some(id), None) => write!(f, "copy to {region}: {id} {state}"),
                (None, None) => write!(f, "copy to {region}: {state}"),
            },
            ImageEvent::Share {
                region,
                ami_id,
                accounts,
            } => match accounts {
                Some(a) => write!(f, "shared {ami_id} in {region} with {}", a.join(", ")),
                None => write!(f, "shared {ami_id} in {region}"),
            },
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = &self.id;
        let note = self.note.as_deref().unwrap_or_default();
        let region = self.region.as_deref().unwrap_or_default();
        match (self.kind, self.state) {
            (ResourceKind::SecurityGroup, None) => {
                write!(f, "temporary security group {id} (no inbound rules)")
            }
            (ResourceKind::Instance, None) => {
                write!(f, "{} instance {id} ({note})", self.role.unwrap_or("an"))
            }
            (ResourceKind::Image, None) => write!(f, "image {id} ({note}) pending"),
            (ResourceKind::Snapshot, None) => write!(f, "snapshot {id}"),
            (ResourceKind::Instance, Some(_)) => write!(f, "terminating {id}"),
            (ResourceKind::Image, Some(_)) => {
                write!(f, "deregistered {id} in {region} and deleted its snapshots")
            }
            (ResourceKind::SecurityGroup | ResourceKind::Snapshot, Some(_)) => {
                write!(f, "deleted {} {id}", self.kind.noun())
            }
        }
    }
}

impl Said for ImageEvent {
    /// A copy's bar lives from its first event to `available` or `failed`.
    fn progress(&self) -> Option<Progress> {
        match self {
            ImageEvent::Copy { region, state, .. } => {
                let label = format!("copy {region}");
                Some(if state.is_final() {
                    Progress::Clear { label }
                } else {
                    Progress::Show {
                        label,
                        message: self.to_string(),
                    }
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    fn json_and_line(e: ImageEvent) -> (serde_json::Value, String) {
        let e = Event::from(e);
        (e.to_json(), e.to_string())
    }

    #[test]
    fn copies_keep_their_json_and_lines() {
        let (json, line) = json_and_line(ImageEvent::copy(
            "us-west-2",
            CopyState::Pending,
            Some("ami-1"),
            None,
        ));
        assert_eq!(
            json,
            serde_json::json!({ "event": "copy", "region": "us-west-2", "state": "pending", "ami_id": "ami-1", "error": null })
        );
        assert_eq!(line, "copy to us-west-2: ami-1 pending");
        let failed = ImageEvent::copy("eu-west-1", CopyState::Failed, None, Some("no".into()));
        assert_eq!(failed.to_string(), "copy to eu-west-1: failed: no");
        assert_eq!(
            failed.progress(),
            Some(Progress::Clear {
                label: "copy eu-west-1".into()
            })
        );
        assert_eq!("reused".parse(), Ok(CopyState::Reused));
    }

    #[test]
    fn removals_say_what_became_of_each_kind() {
        let cases = [
            (
                ResourceKind::Instance,
                "i-1",
                "terminating",
                "terminating i-1",
            ),
            (
                ResourceKind::Image,
                "ami-1",
                "deregistered",
                "deregistered ami-1 in r and deleted its snapshots",
            ),
            (
                ResourceKind::SecurityGroup,
                "sg-1",
                "deleted",
                "deleted security group sg-1",
            ),
            (
                ResourceKind::Snapshot,
                "snap-1",
                "deleted",
                "deleted snapshot snap-1",
            ),
        ];
        for (kind, id, state, text) in cases {
            let (json, line) = json_and_line(ImageEvent::removed(kind, "r", id));
            assert_eq!(json["event"], "resource");
            assert_eq!(json["kind"], kind.as_str());
            assert_eq!(
                (json["id"].as_str(), json["state"].as_str()),
                (Some(id), Some(state))
            );
            assert_eq!(json["region"], "r");
            assert_eq!(line, text);
        }
    }

    #[test]
    fn a_share_names_the_accounts_only_when_told_to() {
        let share = |accounts| ImageEvent::Share {
            region: "r".into(),
            ami_id: "ami-1".into(),
            accounts,
        };
        let (json, line) = json_and_line(share(None));
        assert_eq!(
            json,
            serde_json::json!({ "event": "share", "region": "r", "ami_id": "ami-1" })
        );
        assert_eq!(line, "shared ami-1 in r");
        let (json, line) = json_and_line(share(Some(vec!["1111".into(), "2222".into()])));
        assert_eq!(json["accounts"], serde_json::json!(["1111", "2222"]));
        assert_eq!(line, "shared ami-1 in r with 1111, 2222");
    }
}
