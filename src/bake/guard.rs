//! The last-resort guard: a panic while the bake runs (a bug) must not skip the cleanup of
//! what already exists. The walk is polled under `catch_unwind`, so a panic comes back as
//! an error, and the caller's cleanup removes what was recorded, as after any failure.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Runs `future` to its end, or to a panic: `Err` with the panic's message.
pub(super) async fn unwinding<T>(future: impl Future<Output = T>) -> Result<T, String> {
    // On the heap: the walk's state is large (every phase's futures), and a caller that
    // polls the bake on a small stack (a test thread, a runtime worker) must not hold it.
    let mut future = Box::pin(future);
    std::future::poll_fn(move |cx: &mut Context<'_>| poll_caught(future.as_mut(), cx)).await
}

fn poll_caught<T>(
    future: Pin<&mut impl Future<Output = T>>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, String>> {
    // What the future holds is dropped right after a panic, never polled again: the
    // state it leaves behind is only read by the cleanup, through mutexes that tolerate
    // poisoning.
    match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
        Ok(Poll::Pending) => Poll::Pending,
        Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
        Err(panic) => Poll::Ready(Err(message(panic.as_ref()))),
    }
}

/// What a panic said (its payload is a `&str` or a `String` for `panic!` with a message).
fn message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_comes_back_as_its_message_and_a_value_as_itself() {
        assert_eq!(unwinding(async { 7 }).await, Ok(7));
        let caught = unwinding(async {
            tokio::task::yield_now().await;
            if true {
                panic!("boom {}", 42);
            }
        })
        .await;
        assert_eq!(caught, Err("boom 42".to_string()));
    }
}
