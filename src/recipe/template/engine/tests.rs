use super::*;

fn render(template: &str) -> Result<String, String> {
    let mut engine = Engine::new();
    let fault = |f: TemplateFault| match f.tera {
        Some(e) => format!("{e:?}"),
        None => f.message,
    };
    engine.check(template).map_err(fault)?;
    let mut ctx = tera::Context::new();
    ctx.insert("v", "it's");
    engine.render(&ctx).map_err(fault)
}

#[test]
fn shell_quote_makes_one_word_of_anything() {
    assert_eq!(render("{{ v | shell_quote }}").unwrap(), r"'it'\''s'");
    assert_eq!(shell_quote(""), "''");
}

#[test]
fn bombs_stop_with_a_message() {
    let err = render("{% for a in range(end=100000) %}x{% endfor %}").unwrap_err();
    assert!(err.contains("too large"), "{err}");
    let err = render(
        "{% for a in range(end=10000) %}{% for b in range(end=10000) %}{% endfor %}{% endfor %}",
    )
    .unwrap_err();
    assert!(err.contains("loop more than"), "{err}");
    let err = render("{% set s = v ~ v %}{{ s }}").unwrap_err();
    assert!(err.contains("`{% set %}` cannot be used"), "{err}");
    let deep = format!("{{{{ {}1{} }}}}", "(".repeat(100), ")".repeat(100));
    let err = render(&deep).unwrap_err();
    assert!(err.contains("nested more than"), "{err}");
    let x = "x".repeat(1000);
    let err = render(&format!(
        "{{{{ '{x}' | replace(from='x', to='{x}') | replace(from='x', to='{x}') }}}}"
    ))
    .unwrap_err();
    assert!(err.contains("too large"), "{err}");
}

#[test]
fn names_read_and_shell_safety_are_known_before_rendering() {
    let mut engine = Engine::new();
    let c = engine
        .check("{% if pw is defined %}{{ env.HOME | shell_quote }}{{ 3 + n }}{% endif %}")
        .ok()
        .unwrap();
    assert_eq!(c.names, ["pw", "env.HOME", "n"]);
    assert!(c.shell_safe);
    assert!(!engine.check("{{ x | upper }}").ok().unwrap().shell_safe);
}
