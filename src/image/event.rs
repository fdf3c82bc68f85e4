//! What the image layer tells the user, the same in every command: resources made and
//! removed, copies, shares.

use std::fmt;

use serde::Serialize;

use crate::event::{Event, Progress};

/// An event of the image layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ImageEvent {
    /// A resource made or removed.
    Resource(Resource),
    /// A copy to another region moved on (`pending`, `available`, `failed`, `reused`, …).
    Copy {
        region: String,
        state: String,
        ami_id: Option<String>,
        error: Option<String>,
    },
    /// An image and its snapshots were shared.
    Share { region: String, ami_id: String },
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceState {
    Terminating,
    Deregistered,
    Deleted,
}

impl ImageEvent {
    /// A copy's bar lives from its first event to `available` or `failed`.
    pub fn progress(&self) -> Option<Progress> {
        match self {
            ImageEvent::Copy { region, state, .. } => {
                let label = format!("copy {region}");
                Some(if state == "available" || state == "failed" {
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
            ImageEvent::Share { region, ami_id } => write!(f, "shared {ami_id} in {region}"),
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
            (ResourceKind::Instance, Some(_)) => write!(f, "terminating {id}"),
            (ResourceKind::Image, Some(_)) => {
                write!(f, "deregistered {id} in {region} and deleted its snapshots")
            }
            (ResourceKind::SecurityGroup, Some(_)) => write!(f, "deleted security group {id}"),
        }
    }
}

impl From<ImageEvent> for Event {
    fn from(e: ImageEvent) -> Event {
        Event::Image(e)
    }
}
