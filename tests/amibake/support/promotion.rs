//! The files a promote test starts from: a recipe with a promotion list, and a manifest
//! written by hand as `bake` would have written it.
#![allow(dead_code)] // each test module uses a different part

use std::path::{Path, PathBuf};

/// Writes `dir/NAME.yaml`: recipe `name` of one step, its source `source` (a YAML flow
/// mapping), its image named `image`, promoted through `promotion` (a YAML list).
pub fn write_recipe(dir: &Path, name: &str, source: &str, image: &str, promotion: &str) -> PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    let text = format!(
        "name: {name}\nsource: {source}\nbuilder: {{ iam_instance_profile: amibake-builder }}\n\
         steps:\n  - shell: \"true\"\nimage:\n  name: \"{image}\"\npromotion: {promotion}\n"
    );
    std::fs::write(&path, text).expect("write the recipe");
    path
}

/// A manifest of one image, as `bake` writes it.
pub struct Manifest<'a> {
    /// The recipe's name and its file.
    pub recipe: &'a str,
    pub recipe_file: &'a Path,
    pub run_id: &'a str,
    /// The image `ami`, named `name`, in `region` (the run's home).
    pub region: &'a str,
    pub ami: &'a str,
    pub name: &'a str,
}

impl Manifest<'_> {
    /// Writes the manifest to `path`, which it returns.
    pub fn write(&self, path: PathBuf) -> PathBuf {
        let Manifest {
            recipe,
            recipe_file,
            run_id,
            region,
            ami,
            name,
        } = self;
        let doc = serde_json::json!({
            "tool": { "name": "amibake", "version": "0.1.0" },
            "recipe": recipe, "recipe_file": recipe_file.display().to_string(),
            "run_id": run_id, "region": region, "input_hash": "h",
            "source_ami": { "id": "ami-0123456789abcdef0", "name": "base", "resolved_from": "ami" },
            "amis": [ { "region": region, "ami_id": ami, "name": name, "snapshot_ids": [] } ],
            "started_at": "", "finished_at": "", "duration_seconds": 0.0,
            "phases": [], "steps": [], "validation": []
        });
        std::fs::write(&path, doc.to_string()).expect("write the manifest");
        path
    }
}
