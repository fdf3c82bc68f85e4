"""amibake's local AWS emulator: moto 5.2.5 in server mode, extended only where amibake needs it.

Run:  PYTHONPATH=emulator python -m amibake_emulator --port 0 --port-file FILE
      (scripts/emulator.sh start does this in the background; emulator/README.md)
Binds 127.0.0.1 only, writes the chosen port to FILE, serves until SIGTERM/SIGINT.
Clients use endpoint http://127.0.0.1:PORT with any region and dummy credentials
(AWS_ACCESS_KEY_ID=testing -> moto's default account 123456789012). Everything not listed
in a service module below is plain moto 5.2.5.

One module per service, each installing its patches into moto at start (`install(world)`):

  ec2             instance lifecycle delays, ClientToken, a seeded Ubuntu AMI
  ec2_images      AMI name rules, snapshot tags and encryption, CopyImage options, image
                  deprecation
  allowed_images  the account's Allowed AMIs settings (allowed_images knob):
                  GetAllowedImagesSettings, DescribeImages' ImageAllowed, RunInstances
                  refusing a non-allowed image when enabled
  inspector       Inspector's on-demand AMI scans (inspector2, answered before moto):
                  scan_seconds, scan_findings, scan_fail_reason, denied access, unserved
                  regions
  image_findings  what a successful scan leaves on the AMI: ec2 GetImageFindings,
                  DescribeImages' scanResults
  ssm             DescribeInstanceInformation (which agents are Online), Canonical's public
                  Ubuntu parameter
  ssm_commands    SendCommand: targets, each invocation answered or run
  ssm_invocations Get/ListCommandInvocations, CancelCommand
  cloudformation  stack updates that reach the ASG, change sets, fail_stack_update,
                  ClientRequestToken on events, CancelUpdateStack / ContinueUpdateRollback
  stack_update    an update that takes stack_update_seconds: events over time, failure,
                  rollback, cancel
  instance_refresh  the instance refresh an AutoScalingInstanceRefresh update drives
                  (fail_instance_refresh), its progress as a function of time
  autoscaling     an updated ASG keeps its name; DescribeInstanceRefreshes
  iam             the seeded instance profiles (--seed-instance-profile)
  iam_tags        CreateTags as cfn-templates/amibake-iam.yaml allows it (UnauthorizedOperation otherwise)

How an instance answers a command, by backend:

  canned (default)  nothing boots or runs: outputs (the outputs table,
                    emulator/outputs.yaml) and instance_state (what the instance's own
                    steps installed, wrote and enabled, changed by the commands
                    instance_commands recognises), evaluated by minishell (with
                    minishell_syntax and minishell_builtins)
  real OS           the `real_os` knob: realos boots systemd + cloud-init containers
                    (systemd-nspawn) and runs every script in them

Shared machinery:

  state     the World: knobs, facts, scheduled transitions, invocations, stack updates
            in progress, instance refreshes, Inspector scans, the interceptors, the
            real-OS backend and the request counts, built once and handed to every module
  config    the knobs and the /_amibake/* control endpoint
  traffic   request accounting and EC2's request-rate buckets (throttle_ec2)
  guard     who may talk to the emulator: no web page, its own Host, JSON control POSTs
  server    the WSGI app: the guard, control endpoint, throttling, the lock, the
            interceptors, moto
  util      the log line and moto's clock
  __main__  the command line

NOT simulated without `real_os`: no script or document runs, nothing boots; user data is
ignored; the outputs table and the small instance-state model are the only source of
command output (an unknown command in a step fails it); no S3/CloudWatch output
of commands; SSM documents are not validated; CreateImage does not reboot the instance;
KMS keys are not checked; instance profiles grant nothing (an instance without one still
gets an Online agent unless require_instance_profile is set); stack operations complete
within the request unless stack_update_seconds makes updates take time (creation and
deletion always do), and a roll replaces all instances at once whatever the UpdatePolicy;
Auto Scaling health checks, lifecycle hooks and scaling activities, and everything not
listed above, are plain moto.
"""
