//! The closing actions of a plan — the cleanup, the history write, the manifest — walked
//! in the plan's order once the rest of the walk has ended, on every path: after success,
//! a failure, a timeout, a panic or an interrupt alike (the manifest only after success).

use std::future::Future;
use std::path::Path;

use super::walk::Walk;
use super::{Bake, BakeError, BakeEvent};
use crate::manifest::Manifest;
use crate::plan::Action;

impl Bake<'_> {
    /// Performs the plan's closing actions after its walk ended: with `Some(manifest)`
    /// after success, with `None` after a failure or an interrupt (then the cleanup also
    /// removes the run's instances and images, and no manifest is written). `abandon`
    /// resolving abandons the cleanup: what may be left is reported, with the sweep that
    /// removes it, and the rest of the closing goes on. An error only when the manifest
    /// cannot be written.
    pub async fn close(
        &self,
        manifest: Option<Manifest>,
        abandon: impl Future<Output = ()>,
    ) -> Result<(), BakeError> {
        let mut walk = Walk::closing(manifest);
        let mut abandon = std::pin::pin!(abandon);
        for action in self.plan.actions.iter().filter(|a| a.closes()) {
            if !matches!(action, Action::Cleanup { .. }) {
                self.perform(action, &mut walk).await?;
                continue;
            }
            let finished = tokio::select! {
                done = self.perform(action, &mut walk) => Some(done),
                () = &mut abandon => None,
            };
            match finished {
                Some(done) => {
                    done?;
                }
                None => self.report_left(walk.abandoned()),
            }
            self.reporter.finish();
        }
        Ok(())
    }

    /// `WriteManifest`: writes the manifest of a bake that succeeded to `path`, the plan's
    /// (`--manifest`), when the caller asked for it ([`Bake::writing_manifest`]), and
    /// reports the bake done.
    pub(super) async fn write_manifest(
        &self,
        path: &Path,
        walk: &mut Walk,
    ) -> Result<(), BakeError> {
        let (Some((manifest, clean)), Some(masker)) = (walk.take_manifest(), &self.manifest_masker)
        else {
            return Ok(());
        };
        manifest
            .write(path, masker)
            .await
            .map_err(|source| BakeError::Io {
                what: format!("the manifest {}", path.display()),
                source,
            })?;
        self.reporter.emit(BakeEvent::Done {
            manifest: path.to_path_buf(),
            amis: manifest.amis,
            clean,
            reused_from_run: manifest.reused_from_run,
            seconds: manifest.duration_seconds,
        });
        Ok(())
    }
}
