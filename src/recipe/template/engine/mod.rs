//! The tera engine one recipe is rendered with: bounded, and without the environment.
//!
//! A recipe may come from a pull request, so its templates are treated as untrusted code:
//! whatever they do, rendering ends within [`DEADLINE`] and [`MAX_OUTPUT_BYTES`], and
//! reads nothing outside the recipe's own context. That takes four things:
//!
//! - what a template may hold is checked on its syntax tree before it runs: no
//!   `{% set %}` (a value that doubles itself), no macros, includes, blocks or filter
//!   sections (bodies rendered out of sight of the bounds), expressions of at most
//!   [`MAX_EXPRESSION_TERMS`] terms, and nesting of at most [`MAX_NESTING`] (tera's parser
//!   recurses on it);
//! - every filter is wrapped: one whose result could grow past a bound is refused before
//!   it runs, and no filter returns more than [`MAX_VALUE_BYTES`]; `range` is capped at
//!   [`MAX_RANGE`] items;
//! - every loop iteration ticks a shared budget ([`MAX_ITERATIONS`], the deadline), and
//!   every byte written goes through a writer that stops at the bounds;
//! - `get_env` is refused: a recipe reads only the environment variables it declares
//!   (`env: [NAME]`), through the `env` built-in.
//!
//! Here: the bounds, the engine, its filters and writer; in `syntax`, the checks on the
//! syntax tree and the loop ticks they inject.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tera::{Filter, Function, Tera, Value};

/// How long rendering one recipe may take.
pub const DEADLINE: Duration = Duration::from_secs(10);
/// Most bytes one rendered value (a YAML scalar of the recipe) may have.
pub const MAX_SCALAR_BYTES: usize = 1024 * 1024;
/// Most bytes all rendered values of a recipe may have together.
pub const MAX_OUTPUT_BYTES: usize = 4 * 1024 * 1024;
/// Most bytes a filter or function may return.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Most work a filter may be asked to do (its input times its arguments, roughly): past
/// this, its result could be far larger than [`MAX_VALUE_BYTES`], so it is not run.
const MAX_FILTER_WORK: usize = 64 * 1024 * 1024;
/// Most items `range` returns.
pub const MAX_RANGE: usize = 10_000;
/// Most loop iterations in one recipe.
pub const MAX_ITERATIONS: u64 = 1_000_000;
/// Most terms (names, literals, calls) in one expression.
pub const MAX_EXPRESSION_TERMS: usize = 64;
/// Deepest nesting of tags and of brackets in a template.
pub const MAX_NESTING: usize = 32;

/// The name of the function every loop iteration calls (injected by [`Engine`]).
const TICK: &str = "__amibake_tick";
/// The name templates are added under.
const TEMPLATE: &str = "__amibake_value";

/// Why rendering stopped early, shared by the writer, the filters and the loop ticks.
#[derive(Default)]
struct Budget {
    start: Option<Instant>,
    written: AtomicUsize,
    iterations: AtomicU64,
    exceeded: Mutex<Option<String>>,
}

impl Budget {
    fn new() -> Self {
        Budget {
            start: Some(Instant::now()),
            ..Budget::default()
        }
    }

    /// Records `why` as the reason rendering stopped (the first one wins) and returns it.
    fn exceed(&self, why: String) -> String {
        let mut slot = self.exceeded.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(why).clone()
    }

    fn check_time(&self) -> Result<(), String> {
        if self.start.is_some_and(|s| s.elapsed() > DEADLINE) {
            return Err(self.exceed(format!(
                "templates took longer than {}s to render: the recipe's loops or filters do too much work",
                DEADLINE.as_secs()
            )));
        }
        Ok(())
    }
}

/// A tera instance with the bounds above, for one recipe.
pub struct Engine {
    tera: Tera,
    budget: Arc<Budget>,
}

/// A template checked and ready to render.
pub struct Checked {
    /// Every name the template reads (`pw`, `env.HOME`, `loop.index`), first use first.
    pub names: Vec<String>,
    /// Whether every `{{ }}` ends in `| shell_quote` or yields only a number.
    pub shell_safe: bool,
}

/// A template that could not be used, and where in its text (1-based line and column).
pub struct TemplateFault {
    pub message: String,
    pub at: Option<(u64, u64)>,
    /// The tera error, when tera raised it (for locating names it mentions).
    pub tera: Option<tera::Error>,
}

impl TemplateFault {
    fn msg(message: impl Into<String>) -> Self {
        TemplateFault {
            message: message.into(),
            at: None,
            tera: None,
        }
    }
}

impl Engine {
    pub fn new() -> Self {
        let budget = Arc::new(Budget::new());
        let base = Tera::default();
        let mut tera = Tera::default();
        for (name, inner) in &base.filters {
            let bounded = Bounded {
                name: name.clone(),
                inner: inner.clone(),
                budget: budget.clone(),
            };
            tera.register_filter(name, bounded);
        }
        let quote = Bounded {
            name: "shell_quote".into(),
            inner: Arc::new(shell_quote_filter),
            budget: budget.clone(),
        };
        tera.register_filter("shell_quote", quote);
        let range = base.functions.get("range").cloned();
        let b = budget.clone();
        tera.register_function("range", move |args: &HashMap<String, Value>| {
            capped_range(range.as_deref(), args, &b)
        });
        tera.register_function("get_env", |_: &HashMap<String, Value>| {
            Err(tera::Error::msg(
                "`get_env` is not available in recipes: declare the variable at the top level \
                 (`env: [NAME]`) and read it as `{{ env.NAME }}`",
            ))
        });
        let b = budget.clone();
        tera.register_function(TICK, move |_: &HashMap<String, Value>| {
            tick(&b).map(|()| Value::String(String::new()))
        });
        Engine { tera, budget }
    }

    /// Parses and checks `template`.
    pub fn check(&mut self, template: &str) -> Result<Checked, TemplateFault> {
        if let Some((at, what)) = too_deep(template) {
            return Err(TemplateFault {
                message: format!(
                    "template error: {what} nested more than {MAX_NESTING} deep: simplify the template"
                ),
                at: Some(at),
                tera: None,
            });
        }
        self.tera
            .add_raw_template(TEMPLATE, template)
            .map_err(|e| TemplateFault {
                message: String::new(),
                at: None,
                tera: Some(e),
            })?;
        let Some(tpl) = self.tera.templates.get_mut(TEMPLATE) else {
            return Err(TemplateFault::msg(
                "template error: the template was not added",
            ));
        };
        let mut walk = Walk::default();
        walk.nodes(&mut tpl.ast)?;
        Ok(Checked {
            names: walk.names,
            shell_safe: walk.unquoted == 0,
        })
    }

    /// Renders the template last checked with `ctx`, within the bounds.
    pub fn render(&self, ctx: &tera::Context) -> Result<String, TemplateFault> {
        self.budget
            .check_time()
            .map_err(|m| TemplateFault::msg(format!("template error: {m}")))?;
        let mut out = BoundedWriter {
            buf: Vec::new(),
            budget: &self.budget,
        };
        let result = self.tera.render_to(TEMPLATE, ctx, &mut out);
        let exceeded = self
            .budget
            .exceeded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(why) = exceeded {
            return Err(TemplateFault::msg(format!("template error: {why}")));
        }
        result.map_err(|e| TemplateFault {
            message: String::new(),
            at: None,
            tera: Some(e),
        })?;
        String::from_utf8(out.buf)
            .map_err(|_| TemplateFault::msg("template error: the result is not UTF-8 text"))
    }
}

/// Bash's single quoting: the value as one word, whatever it holds.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn shell_quote_filter(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok(Value::String(shell_quote(&text)))
}

/// One loop iteration: counted, and the deadline checked.
fn tick(budget: &Budget) -> tera::Result<()> {
    budget.check_time().map_err(tera::Error::msg)?;
    if budget.iterations.fetch_add(1, Ordering::Relaxed) >= MAX_ITERATIONS {
        return Err(tera::Error::msg(budget.exceed(format!(
            "templates loop more than {MAX_ITERATIONS} times in all: the output would be too large"
        ))));
    }
    Ok(())
}

/// tera's `range`, refused past [`MAX_RANGE`] items.
fn capped_range(
    inner: Option<&dyn Function>,
    args: &HashMap<String, Value>,
    budget: &Budget,
) -> tera::Result<Value> {
    let number = |k: &str, default: u64| args.get(k).and_then(Value::as_u64).unwrap_or(default);
    let (start, end, step) = (number("start", 0), number("end", 0), number("step_by", 1));
    let items = end.saturating_sub(start) / step.max(1);
    if items > MAX_RANGE as u64 {
        return Err(tera::Error::msg(budget.exceed(format!(
            "`range` of {items} items is too large: at most {MAX_RANGE}"
        ))));
    }
    match inner {
        Some(range) => range.call(args),
        None => Err(tera::Error::msg("`range` is not available")),
    }
}

/// A filter of tera's with bounds around it.
struct Bounded {
    name: String,
    inner: Arc<dyn Filter>,
    budget: Arc<Budget>,
}

impl Filter for Bounded {
    fn filter(&self, value: &Value, args: &HashMap<String, Value>) -> tera::Result<Value> {
        self.budget.check_time().map_err(tera::Error::msg)?;
        let arg_bytes: usize = args.values().map(size).sum();
        let work = (size(value) + 16)
            .saturating_mul(8)
            .saturating_mul(1 + arg_bytes);
        if work > MAX_FILTER_WORK {
            return Err(tera::Error::msg(self.budget.exceed(format!(
                "`{}` could make a value too large (its input and arguments are too big for it): \
                 values are limited to {MAX_VALUE_BYTES} bytes",
                self.name
            ))));
        }
        let out = self.inner.filter(value, args)?;
        if size(&out) > MAX_VALUE_BYTES {
            return Err(tera::Error::msg(self.budget.exceed(format!(
                "`{}` made a value too large: values are limited to {MAX_VALUE_BYTES} bytes",
                self.name
            ))));
        }
        Ok(out)
    }
}

/// Roughly how many bytes a value takes (at least its text's length).
fn size(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(|i| size(i) + 8).sum(),
        Value::Object(map) => map.iter().map(|(k, v)| k.len() + size(v) + 8).sum(),
        _ => 8,
    }
}

/// The output of one template: stops at the bounds.
struct BoundedWriter<'a> {
    buf: Vec<u8>,
    budget: &'a Budget,
}

impl Write for BoundedWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let fail = |why: String| Err(std::io::Error::other(self.budget.exceed(why)));
        if let Err(why) = self.budget.check_time() {
            return fail(why);
        }
        if self.buf.len() + data.len() > MAX_SCALAR_BYTES {
            return fail(format!(
                "a rendered value is too large: at most {MAX_SCALAR_BYTES} bytes each"
            ));
        }
        let total = self.budget.written.fetch_add(data.len(), Ordering::Relaxed) + data.len();
        if total > MAX_OUTPUT_BYTES {
            return fail(format!(
                "the rendered values are too large: at most {MAX_OUTPUT_BYTES} bytes in all"
            ));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

mod syntax;

use syntax::{Walk, too_deep};

#[cfg(test)]
mod tests;
