//! Which action of the plan a request serves: the walk runs each action inside
//! [`acting`], and every AWS request sent while it runs carries the action's id in the
//! [`HEADER`] header (added by the HTTP client, [`super::limit::Limited`]).
//!
//! The emulator counts requests by that header (docs/emulator.md), so a test can check the
//! calls a bake made, action by action, against the lists its plan printed. AWS ignores the
//! header: it is not signed, and no AWS API reads it.
//!
//! The id lives in a tokio task-local, scoped to the action's future: actions that run side
//! by side in one task (the copies and the boot test, joined) each carry their own, and the
//! innermost action wins. Work outside every action (the lease renewal beside the walk) sends
//! no header, or names itself with a label that is no action id (see [`crate::lease`]).

use std::future::Future;

/// The request header that names the action.
pub const HEADER: &str = "x-amibake-action";

tokio::task_local! {
    static ACTING: String;
}

/// Runs `work` as `action`: the requests it sends name `action`, unless a nested
/// [`acting`] names another.
pub async fn acting<F: Future>(action: String, work: F) -> F::Output {
    ACTING.scope(action, work).await
}

/// The action being performed where this is called; `None` outside every action.
pub fn current() -> Option<String> {
    ACTING.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_branch_of_a_join_names_its_own_action_and_the_innermost_wins() {
        assert_eq!(current(), None);
        let seen = acting("distribute".into(), async {
            let outer = current();
            let (a, b) = tokio::join!(
                acting("copy:us-west-2".into(), async {
                    tokio::task::yield_now().await;
                    current()
                }),
                acting("launch:boot-test".into(), async {
                    tokio::task::yield_now().await;
                    current()
                }),
            );
            (outer, a, b, current())
        })
        .await;
        let name = |s: &str| Some(s.to_string());
        assert_eq!(
            seen,
            (
                name("distribute"),
                name("copy:us-west-2"),
                name("launch:boot-test"),
                name("distribute")
            )
        );
        assert_eq!(current(), None);
    }
}
