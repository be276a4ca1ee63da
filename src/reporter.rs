//! The reporter's two jobs, `init` and `report`, wiring the other modules together.

use crate::cli::{InitArgs, ReportArgs};
use anyhow::Result;

/// `spartakus init`.
pub fn init(_args: InitArgs) -> Result<()> {
    anyhow::bail!("not implemented yet")
}

/// `spartakus report`.
pub fn report(_args: ReportArgs) -> Result<()> {
    anyhow::bail!("not implemented yet")
}
