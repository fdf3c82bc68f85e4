//! What a template may hold, checked on its syntax tree before it runs: nesting depth,
//! expression size, the tags allowed, and where loop ticks go.

use tera::ast::{Expr, ExprVal, FunctionCall, Node, WS};

use std::collections::HashMap;

use super::{MAX_EXPRESSION_TERMS, MAX_NESTING, TICK, TemplateFault};

/// The place and kind of the first nesting deeper than [`MAX_NESTING`]: of `(`/`[` inside
/// tags, or of block tags (`{% if %}` … `{% endif %}`).
pub(super) fn too_deep(template: &str) -> Option<((u64, u64), &'static str)> {
    let (mut brackets, mut blocks) = (0usize, 0usize);
    let mut in_tag = false;
    let (mut line, mut col) = (1u64, 0u64);
    let bytes = template.as_bytes();
    for (i, c) in template.char_indices() {
        if c == '\n' {
            (line, col) = (line + 1, 0);
        }
        col += 1;
        let next = bytes.get(i + 1).copied();
        match c {
            '{' if matches!(next, Some(b'{' | b'%')) => {
                in_tag = true;
                if next == Some(b'%') {
                    let tag = template[i + 2..].trim_start_matches(['-', ' ', '\t', '\n']);
                    let word: String = tag.chars().take_while(char::is_ascii_alphabetic).collect();
                    match word.as_str() {
                        "if" | "for" | "filter" | "macro" | "block" | "raw" => blocks += 1,
                        w if w.starts_with("end") => blocks = blocks.saturating_sub(1),
                        _ => {}
                    }
                    if blocks > MAX_NESTING {
                        return Some(((line, col), "tags are"));
                    }
                }
            }
            '}' | '%' if in_tag && next == Some(b'}') => in_tag = false,
            '(' | '[' if in_tag => {
                brackets += 1;
                if brackets > MAX_NESTING {
                    return Some(((line, col), "brackets are"));
                }
            }
            ')' | ']' if in_tag => brackets = brackets.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Checks a template's nodes, injects the loop ticks, and gathers the names it reads.
#[derive(Default)]
pub(super) struct Walk {
    pub(super) names: Vec<String>,
    /// `{{ }}` expressions that neither end in `| shell_quote` nor yield only a number.
    pub(super) unquoted: usize,
}

impl Walk {
    pub(super) fn nodes(&mut self, nodes: &mut [Node]) -> Result<(), TemplateFault> {
        for node in nodes {
            self.node(node)?;
        }
        Ok(())
    }

    fn node(&mut self, node: &mut Node) -> Result<(), TemplateFault> {
        let refused = match node {
            Node::Text(_)
            | Node::Raw(..)
            | Node::Comment(..)
            | Node::Break(_)
            | Node::Continue(_) => {
                return Ok(());
            }
            Node::VariableBlock(_, expr) => {
                if !shell_safe(expr) {
                    self.unquoted += 1;
                }
                return self.expr(expr);
            }
            Node::If(branches, _) => {
                for (_, cond, body) in &mut branches.conditions {
                    self.expr(cond)?;
                    self.nodes(body)?;
                }
                if let Some((_, body)) = &mut branches.otherwise {
                    self.nodes(body)?;
                }
                return Ok(());
            }
            Node::Forloop(_, l, _) => {
                self.expr(&l.container)?;
                let tick = FunctionCall {
                    name: TICK.into(),
                    args: HashMap::new(),
                };
                l.body.insert(
                    0,
                    Node::VariableBlock(WS::default(), Expr::new(ExprVal::FunctionCall(tick))),
                );
                self.nodes(&mut l.body[1..])?;
                if let Some(body) = &mut l.empty_body {
                    self.nodes(body)?;
                }
                return Ok(());
            }
            Node::Set(..) => "`{% set %}`",
            Node::MacroDefinition(..) => "macros",
            Node::Extends(..) => "`{% extends %}`",
            Node::Include(..) => "`{% include %}`",
            Node::ImportMacro(..) => "`{% import %}`",
            Node::FilterSection(..) => "`{% filter %}` sections",
            Node::Block(..) | Node::Super => "blocks",
        };
        Err(TemplateFault::msg(format!(
            "template error: {refused} cannot be used in a recipe: a value is computed in one \
             expression (`{{{{ … }}}}`), with filters"
        )))
    }

    fn expr(&mut self, expr: &Expr) -> Result<(), TemplateFault> {
        let terms = count_terms(expr);
        if terms > MAX_EXPRESSION_TERMS {
            return Err(TemplateFault::msg(format!(
                "template error: an expression of {terms} terms is too large: at most \
                 {MAX_EXPRESSION_TERMS}"
            )));
        }
        self.names_in(expr);
        Ok(())
    }

    fn names_in(&mut self, expr: &Expr) {
        let mut add = |n: &str| {
            if !self.names.iter().any(|x| x == n) {
                self.names.push(n.to_string());
            }
        };
        visit(expr, &mut |e| match &e.val {
            ExprVal::Ident(n) => add(n),
            ExprVal::Test(t) => add(&t.ident),
            _ => {}
        });
    }
}

/// Calls `f` on `expr` and every expression inside it.
fn visit(expr: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(expr);
    let calls = |fc: &FunctionCall, f: &mut dyn FnMut(&Expr)| {
        fc.args.values().for_each(|a| visit(a, f));
    };
    for filter in &expr.filters {
        calls(filter, f);
    }
    match &expr.val {
        ExprVal::Math(m) => {
            visit(&m.lhs, f);
            visit(&m.rhs, f);
        }
        ExprVal::Logic(l) => {
            visit(&l.lhs, f);
            visit(&l.rhs, f);
        }
        ExprVal::In(i) => {
            visit(&i.lhs, f);
            visit(&i.rhs, f);
        }
        ExprVal::Test(t) => t.args.iter().for_each(|a| visit(a, f)),
        ExprVal::FunctionCall(fc) => calls(fc, f),
        ExprVal::MacroCall(m) => m.args.values().for_each(|a| visit(a, f)),
        ExprVal::Array(items) => items.iter().for_each(|a| visit(a, f)),
        ExprVal::StringConcat(c) => {
            for v in &c.values {
                visit(&Expr::new(v.clone()), f);
            }
        }
        _ => {}
    }
}

/// The terms of an expression: every expression in it, and every filter.
fn count_terms(expr: &Expr) -> usize {
    let mut n = 0;
    visit(expr, &mut |e| n += 1 + e.filters.len());
    n
}

/// Filters whose result is a number (or fails).
const NUMBER_FILTERS: [&str; 6] = ["int", "float", "length", "round", "abs", "wordcount"];

/// Whether a `{{ }}` expression is safe in a shell script: it ends in `| shell_quote`, or
/// it yields only a number.
fn shell_safe(expr: &Expr) -> bool {
    match expr.filters.last() {
        Some(last) => last.name == "shell_quote" || NUMBER_FILTERS.contains(&last.name.as_str()),
        None => matches!(
            expr.val,
            ExprVal::Int(_) | ExprVal::Float(_) | ExprVal::Math(_)
        ),
    }
}
