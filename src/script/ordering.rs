//! Ordering a unit after cloud-init without an ordering cycle, and the boot-test checks
//! that prove it held (see docs/recipe.md, "Ordering after cloud-init").

use super::builder::ScriptBuilder;
use super::{Script, quote};

/// The drop-in that orders the CodeDeploy agent after cloud-init: the agent must not
/// deploy while cloud-init's package upgrade swaps the JDK under it.
pub const AGENT_DROP_IN: &str =
    "/etc/systemd/system/codedeploy-agent.service.d/10-after-cloud-init.conf";

/// Its exact contents: see [`ordering_after`] for why `multi-user.target` is named too.
/// There is no `[Install]` section: a drop-in's `WantedBy=` only *adds* a link beside the
/// package's own `multi-user.target.wants/` one, and the package's installer (which runs
/// `systemctl enable` again on every upgrade) would bring that one back anyway. The
/// ordering alone holds whichever target pulls the agent in.
pub const AGENT_DROP_IN_CONTENT: &str = "[Unit]\nAfter=cloud-final.service multi-user.target\n";

/// cloud-init's units that Debian's and Ubuntu's cloud-init order after
/// `multi-user.target` (`cloud-final.service.tmpl`, variants debian/ubuntu/unknown; the
/// Amazon variant does not).
const AFTER_MULTI_USER_ON_DEBIAN: [&str; 2] = ["cloud-final.service", "cloud-init.target"];

/// The `After=` list of a drop-in that orders a unit after `after`.
///
/// A unit enabled the usual way (`WantedBy=multi-user.target`) is one that
/// `multi-user.target` waits for: systemd orders a target after every unit it wants,
/// unless that unit is explicitly ordered after the target. Ordering such a unit after
/// cloud-final on Debian/Ubuntu, where cloud-final itself runs after `multi-user.target`,
/// is a cycle; systemd breaks it at boot by dropping a start job: the unit's (it never
/// starts) or cloud-final's (cloud-init never finishes). Naming `multi-user.target` in `After=` as well removes the implicit
/// ordering the other way: no cycle on any layout, and the unit still starts after
/// cloud-final has finished.
pub fn ordering_after(after: &[&str]) -> Vec<String> {
    let mut units: Vec<String> = after.iter().map(|u| u.to_string()).collect();
    let late = after.iter().any(|u| AFTER_MULTI_USER_ON_DEBIAN.contains(u));
    if late && !after.contains(&"multi-user.target") {
        units.push("multi-user.target".into());
    }
    units
}

/// The stdout line the built-in ordering check prints when the agent started after
/// cloud-final; the check expects it.
pub const ORDERING_OK: &str = "ordering: codedeploy-agent started after cloud-final";

/// Built-in boot-test check: the CodeDeploy agent became active after cloud-final.service
/// finished, the drop-in that orders it is loaded, and systemd found no ordering cycle at
/// boot (a cycle makes systemd drop a start job: the agent then never starts). This is
/// the race the drop-in exists to prevent, checked on a fresh instance of the new image.
pub fn ordering_check() -> Script {
    let mut s = ScriptBuilder::new("check: codedeploy-agent started after cloud-final");
    s.mark("check codedeploy-agent ordering against cloud-final");
    no_cycle_lines(&mut s);
    s.lines(&[
        "final=$(systemctl show -p ExecMainExitTimestampMonotonic --value cloud-final.service)",
        "inactive=$(systemctl show -p ActiveExitTimestampMonotonic --value cloud-final.service)",
        "agent=$(systemctl show -p ActiveEnterTimestampMonotonic --value codedeploy-agent)",
        "drop_ins=$(systemctl show -p DropInPaths --value codedeploy-agent)",
        "echo \"cloud-final exited at ${final}us (inactive at ${inactive}us), codedeploy-agent active at ${agent}us\"",
        "echo \"codedeploy-agent drop-ins: ${drop_ins}\"",
        "# cloud-final is oneshot with RemainAfterExit: its main process exit is what counts",
        "if [ \"$inactive\" -gt \"$final\" ]; then final=$inactive; fi",
    ]);
    s.line(&format!(
        "if echo \"$drop_ins\" | grep -qF {AGENT_DROP_IN}; then echo 'drop-in loaded'; else echo 'the after-cloud-init drop-in is not loaded' >&2; exit 1; fi"
    ));
    s.lines(&[
        "if [ \"$agent\" = 0 ]; then",
        "  # Never even tried: its start job was dropped, as systemd breaks an ordering cycle",
        "  tried=$(systemctl show -p InactiveExitTimestampMonotonic --value codedeploy-agent)",
        "  if [ \"$tried\" = 0 ]; then",
        "    echo 'ordering: systemd never started codedeploy-agent at boot: its start job was dropped, as systemd does to break an ordering cycle' >&2",
        "    echo \"codedeploy-agent: $(systemctl show -p WantedBy -p After codedeploy-agent | tr '\\n' ' ')\" >&2",
        "    echo \"cloud-final.service: $(systemctl show -p After cloud-final.service | tr '\\n' ' ')\" >&2",
        "  else",
        "    echo 'ordering: codedeploy-agent was started at boot but never became active' >&2",
        "  fi",
        "  exit 1",
        "fi",
        "if [ \"$final\" -gt 0 ] && [ \"$agent\" -gt \"$final\" ]; then",
    ]);
    s.line(&format!("  echo {}", quote(ORDERING_OK)));
    s.lines(&[
        "else",
        "  echo 'ordering: codedeploy-agent did NOT start after cloud-final' >&2",
        "  exit 1",
        "fi",
    ]);
    s.finish()
}

/// The stdout line the built-in cycle check prints when the boot had no ordering cycle.
pub const NO_CYCLE_OK: &str = "ordering: no ordering cycle at boot";

/// Built-in boot-test check for recipes that order units with `systemd_override`: systemd
/// found no ordering cycle at boot. A cycle is not an error to systemd: it deletes one
/// start job to break it, logs it, and boots on without that unit.
pub fn no_cycle_check() -> Script {
    let mut s = ScriptBuilder::new("check: no ordering cycle at boot");
    s.mark("check the boot journal for ordering cycles");
    no_cycle_lines(&mut s);
    s.line(&format!("echo {}", quote(NO_CYCLE_OK)));
    s.finish()
}

/// Fails with the journal's own lines when systemd broke an ordering cycle at this boot.
pub(super) fn no_cycle_lines(s: &mut ScriptBuilder) {
    s.lines(&[
        "cycles=$(journalctl -b -q --no-pager -o cat | grep -i 'ordering cycle' || true)",
        "if [ -n \"$cycles\" ]; then",
        "  echo 'systemd found an ordering cycle at boot and dropped a start job to break it:' >&2",
        "  echo \"$cycles\" >&2",
        "  exit 1",
        "fi",
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_after_cloud_final_are_also_ordered_after_multi_user_target() {
        assert_eq!(
            ordering_after(&["cloud-final.service"]),
            ["cloud-final.service", "multi-user.target"]
        );
        assert_eq!(
            ordering_after(&["network-online.target", "cloud-init.target"]),
            [
                "network-online.target",
                "cloud-init.target",
                "multi-user.target"
            ]
        );
        // Nothing added where no cycle can come from cloud-init, nor twice.
        assert_eq!(
            ordering_after(&["network-online.target"]),
            ["network-online.target"]
        );
        assert_eq!(
            ordering_after(&["multi-user.target", "cloud-final.service"]),
            ["multi-user.target", "cloud-final.service"]
        );
    }

    #[test]
    fn the_agent_drop_in_orders_after_cloud_final_and_multi_user_without_an_install_section() {
        assert_eq!(
            AGENT_DROP_IN_CONTENT,
            format!(
                "[Unit]\nAfter={}\n",
                ordering_after(&["cloud-final.service"]).join(" ")
            )
        );
        assert!(!AGENT_DROP_IN_CONTENT.contains("[Install]"));
    }
}
