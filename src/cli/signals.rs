//! The stopping signals: SIGINT (Ctrl-C), SIGTERM and SIGHUP (a lost terminal or a CI
//! runner's cancel). The first stops a command's work and starts its cleanup; only the same
//! signal again abandons the cleanup.

/// Resolves on the first stopping signal: SIGINT (Ctrl-C), SIGTERM or SIGHUP (a lost
/// terminal or CI runner).
pub(super) async fn interrupted() {
    let mut signals = Signals::listen(|_, _| {});
    signals.first().await;
}

/// A signal that stops a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
    Hangup,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
        }
    }
}

/// The stopping signals received so far: the first stops the work and starts the
/// cleanup; only the same one again abandons the cleanup. A CI cancel commonly sends
/// one signal and then another (SIGINT, then SIGTERM): that second one is not a repeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Received {
    first: Option<Signal>,
    repeated: bool,
}

/// Listens for SIGINT, SIGTERM and SIGHUP for as long as it (or a clone) lives.
#[derive(Clone)]
pub struct Signals {
    received: tokio::sync::watch::Receiver<Received>,
    _listener: std::sync::Arc<tokio::task::JoinHandle<()>>,
}

impl Signals {
    /// Starts listening; `ignored(first, other)` is called for each signal other than the
    /// first, which changes nothing (the caller says so).
    pub fn listen(ignored: impl Fn(Signal, Signal) + Send + 'static) -> Signals {
        let (tx, received) = tokio::sync::watch::channel(Received::default());
        let listener = tokio::spawn(async move {
            let mut streams = SignalStreams::new();
            while let Some(signal) = streams.next().await {
                let now = *tx.borrow();
                match now.first {
                    None => tx.send_replace(Received {
                        first: Some(signal),
                        repeated: false,
                    }),
                    Some(first) if first == signal => tx.send_replace(Received {
                        first: Some(first),
                        repeated: true,
                    }),
                    Some(first) => {
                        ignored(first, signal);
                        now
                    }
                };
            }
        });
        Signals {
            received,
            _listener: std::sync::Arc::new(listener),
        }
    }

    /// Resolves on the first signal (at once if one came already).
    pub async fn first(&mut self) -> Signal {
        let first = self
            .received
            .wait_for(|r| r.first.is_some())
            .await
            .map(|r| r.first);
        match first {
            Ok(Some(signal)) => signal,
            // The listener is gone (it could listen to nothing): no signal will come.
            _ => std::future::pending().await,
        }
    }

    /// The first signal, if one came.
    pub fn got(&self) -> Option<Signal> {
        self.received.borrow().first
    }

    /// Resolves when the first signal comes again.
    pub async fn repeated(&mut self) {
        let gone = self.received.wait_for(|r| r.repeated).await.is_err();
        if gone {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        if std::sync::Arc::strong_count(&self._listener) == 1 {
            self._listener.abort();
        }
    }
}

/// The process's stopping signals as one stream.
struct SignalStreams {
    #[cfg(unix)]
    streams: Vec<(Signal, tokio::signal::unix::Signal)>,
}

impl SignalStreams {
    #[cfg(unix)]
    fn new() -> SignalStreams {
        use tokio::signal::unix::{SignalKind, signal};
        let kinds = [
            (Signal::Interrupt, SignalKind::interrupt()),
            (Signal::Terminate, SignalKind::terminate()),
            (Signal::Hangup, SignalKind::hangup()),
        ];
        SignalStreams {
            // A signal that cannot be listened for keeps its default action.
            streams: kinds
                .into_iter()
                .filter_map(|(s, kind)| signal(kind).ok().map(|l| (s, l)))
                .collect(),
        }
    }

    #[cfg(not(unix))]
    fn new() -> SignalStreams {
        SignalStreams {}
    }

    #[cfg(unix)]
    async fn next(&mut self) -> Option<Signal> {
        if self.streams.is_empty() {
            return None;
        }
        std::future::poll_fn(|cx| {
            for (signal, stream) in &mut self.streams {
                if let std::task::Poll::Ready(Some(())) = stream.poll_recv(cx) {
                    return std::task::Poll::Ready(Some(*signal));
                }
            }
            std::task::Poll::Pending
        })
        .await
    }

    #[cfg(not(unix))]
    async fn next(&mut self) -> Option<Signal> {
        tokio::signal::ctrl_c()
            .await
            .ok()
            .map(|()| Signal::Interrupt)
    }
}
