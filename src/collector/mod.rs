//! The collector: `spartakus collect` (receive, check, store) and `spartakus summary`.

use argh::FromArgs;

/// Receive, check and store reports.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "collect")]
pub struct CollectArgs {}

/// Print the fleet at a glance from a collector's store.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "summary")]
pub struct SummaryArgs {}

/// Run the collector until SIGTERM.
pub fn run_collect(_args: CollectArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}

/// Print the summary.
pub fn run_summary(_args: SummaryArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
