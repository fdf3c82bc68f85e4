//! The report as a table that fits 100 columns: per recipe and region a header, then a
//! row per image (newest first) and under it what uses it, one use a line (a longer one
//! goes on, indented, on the next); the summary line last.

use std::fmt::Write as _;

use super::report::{ImageStatus, short_age};
use super::summary::Summary;
use crate::fleet::Use;

/// The widest line the table writes.
pub const WIDTH: usize = 100;

/// The AGENT column: a pin with its release (`1.7.1-110`, `2.1.0`) fits; a 2.x pin with
/// its build (`2.1.0-9745926189`) pushes the rest of its row right.
const AGENT_WIDTH: usize = 12;

/// The table and the summary line.
pub fn render(images: &[ImageStatus], summary: &Summary) -> String {
    let mut out = String::new();
    let mut current: Option<(&str, &str)> = None;
    for image in images {
        let group = (image.recipe.as_str(), image.region.as_str());
        if current != Some(group) {
            current = Some(group);
            let builds = images
                .iter()
                .filter(|i| (i.recipe.as_str(), i.region.as_str()) == group)
                .count();
            if !out.is_empty() {
                out.push('\n');
            }
            line(
                &mut out,
                &format!(
                    "{} in {}: {} complete builds, newest {}",
                    image.recipe, image.region, builds, image.newest
                ),
            );
            line(
                &mut out,
                &format!(
                    "  {:<21} {:>5} {:<10} {:>6} {:<8} {:<AGENT_WIDTH$} {:>6}  {}",
                    "IMAGE", "AGE", "STATE", "BEHIND", "SCAN", "AGENT", "USES", "CHANNELS"
                ),
            );
        }
        row(&mut out, image);
    }
    if !out.is_empty() {
        out.push('\n');
    }
    line(&mut out, &summary.line());
    out
}

fn row(out: &mut String, image: &ImageStatus) {
    let uses = if image.in_use {
        image.uses.len().to_string()
    } else {
        "unused".to_string()
    };
    let channels: Vec<String> = image.channels.iter().map(|c| c.short()).collect();
    let mark = if image.too_old { "!" } else { " " };
    line(
        out,
        &format!(
            "{mark} {:<21} {:>5} {:<10} {:>6} {:<8} {:<AGENT_WIDTH$} {:>6}  {}",
            image.image_id,
            short_age(image.age_seconds),
            image.state,
            image.builds_behind_newest,
            scan_highest(image.scan.as_deref()),
            image.agent_pin.as_deref().unwrap_or("-"),
            uses,
            if channels.is_empty() {
                "-".to_string()
            } else {
                channels.join(" ")
            }
        ),
    );
    let mut about = vec![image.name.clone(), format!("created {}", image.created)];
    if let Some(d) = &image.deprecation_time {
        about.push(format!("deprecation {d}"));
    }
    if let Some(source) = &image.pin.source_ami {
        about.push(format!("source {source}"));
    }
    line(out, &format!("      {}", about.join(" · ")));
    for used in &image.uses {
        // The drift question, per instance: the agent it runs is its image's pin.
        match (used, &image.agent_pin) {
            (Use::Instance { .. }, Some(pin)) => {
                line(out, &format!("      {} · agent {pin}", used.text()));
            }
            _ => line(out, &format!("      {}", used.text())),
        }
    }
}

/// The highest severity of the `amibake:scan` summary (`… highest=high at=…`), `-`
/// without a scan.
fn scan_highest(scan: Option<&str>) -> String {
    let Some(scan) = scan else {
        return "-".to_string();
    };
    scan.split_whitespace()
        .find_map(|part| part.strip_prefix("highest="))
        .unwrap_or("scanned")
        .to_string()
}

/// How a line longer than [`WIDTH`] goes on: indented past the use lines.
const CONTINUED: &str = "        ";

/// A line wrapped at [`WIDTH`] characters: at the last space that fits, else cut;
/// each continuation is indented by [`CONTINUED`].
fn line(out: &mut String, text: &str) {
    let mut rest: Vec<char> = text.trim_end().chars().collect();
    let mut first = true;
    loop {
        let room = if first {
            WIDTH
        } else {
            WIDTH - CONTINUED.len()
        };
        let lead = if first { "" } else { CONTINUED };
        if rest.len() <= room {
            let _ = writeln!(out, "{lead}{}", rest.iter().collect::<String>());
            return;
        }
        let cut = rest[..=room]
            .iter()
            .rposition(|c| *c == ' ')
            .filter(|&at| at > 0 && rest[..at].iter().any(|c| *c != ' '))
            .unwrap_or(room);
        let head: String = rest[..cut].iter().collect();
        let _ = writeln!(out, "{lead}{}", head.trim_end());
        rest = rest[cut..]
            .iter()
            .skip_while(|c| **c == ' ')
            .copied()
            .collect();
        first = false;
        if rest.is_empty() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{ChannelPosition, Pin, Relation};

    fn image(id: &str, uses: Vec<Use>, too_old: bool) -> ImageStatus {
        ImageStatus {
            recipe: "web-tomcat".into(),
            region: "eu-west-3".into(),
            image_id: id.into(),
            name: "web-tomcat-20261206-120000".into(),
            created: "2026-12-06T12:00:00.000Z".into(),
            age_seconds: Some(47 * 86_400),
            state: "available".into(),
            deprecation_time: None,
            builds_behind_newest: 1,
            newest: "ami-0ccccccccccccccccc".into(),
            channels: vec![ChannelPosition {
                env: "prod".into(),
                parameter: "/amibake/web-tomcat/prod".into(),
                channel_image: id.into(),
                relation: Relation::Channel,
                builds: 0,
            }],
            pin: Pin::default(),
            scan: Some("critical=0 high=1 highest=high at=2026-12-06T12:00:00Z".into()),
            agent_pin: Some("2.1.0-9745926189".into()),
            tags: Default::default(),
            in_use: !uses.is_empty(),
            uses,
            too_old,
        }
    }

    #[test]
    fn rows_fit_the_width_and_uses_follow_their_image() {
        let long = Use::Referenced {
            resource_type: "ec2:LaunchTemplate".into(),
            name: "lt-".to_string() + &"0".repeat(120),
            arn: "arn".into(),
        };
        let images = vec![
            image("ami-0aaaaaaaaaaaaaaaaa", vec![long], true),
            image("ami-0bbbbbbbbbbbbbbbbb", vec![], false),
        ];
        let summary = Summary {
            images: 2,
            in_use: 1,
            unused: 1,
            recipes: vec!["web-tomcat".into()],
            regions: vec!["eu-west-3".into()],
            oldest_in_use: None,
            too_old: vec![],
        };
        let text = render(&images, &summary);
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[2].starts_with("! ami-0aaaaaaaaaaaaaaaaa   47d available"),
            "{text}"
        );
        assert!(
            lines[2].split_whitespace().collect::<Vec<_>>()[5..7] == ["high", "2.1.0-9745926189"]
                && lines[2].ends_with("prod="),
            "{text}"
        );
        assert!(lines[4].starts_with("      launch template"), "{text}");
        assert!(
            lines[5].starts_with(&format!("{CONTINUED}lt-000")),
            "{text}"
        );
        assert!(lines[6].starts_with(&format!("{CONTINUED}000")), "{text}");
        assert!(lines[7].contains("unused"), "{text}");
        assert_eq!(
            lines.last().unwrap(),
            &"2 images in 1 region: 1 in use, 1 unused"
        );
    }

    #[test]
    fn the_agent_column_and_each_instance_with_its_images_pin() {
        let running = Use::Instance {
            id: "i-0123".into(),
            state: "running".into(),
        };
        let mut pinned = image("ami-0aaaaaaaaaaaaaaaaa", vec![running.clone()], false);
        pinned.agent_pin = Some("1.7.1-110".into());
        let mut bare = image("ami-0bbbbbbbbbbbbbbbbb", vec![running], false);
        bare.agent_pin = None;
        let summary = Summary {
            images: 2,
            in_use: 2,
            unused: 0,
            recipes: vec!["web-tomcat".into()],
            regions: vec!["eu-west-3".into()],
            oldest_in_use: None,
            too_old: vec![],
        };
        let text = render(&[pinned, bare], &summary);
        let lines: Vec<&str> = text.lines().collect();
        let columns: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(columns[5], "AGENT", "{text}");
        assert_eq!(
            lines[2].split_whitespace().nth(5),
            Some("1.7.1-110"),
            "{text}"
        );
        assert_eq!(lines[4], "      running instance i-0123 · agent 1.7.1-110");
        assert_eq!(lines[5].split_whitespace().nth(5), Some("-"), "{text}");
        assert_eq!(
            lines[7], "      running instance i-0123",
            "no pin, nothing said"
        );
    }
}
