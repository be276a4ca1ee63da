//! From parsed flags to a job: each subcommand's flags are resolved into its settings once
//! (flags, then their environment variables, then defaults, all validated), then run.

use crate::cli::{Command, Env};
use crate::collector::settings::{
    BackupSettings, CollectSettings, DashboardSettings, ExportSettings, SummarySettings,
};
use crate::collector::{collect, views};
use crate::reporter::settings::{ForgetSettings, InitSettings, ReportSettings, SendSettings};
use anyhow::Result;

/// A subcommand with its validated settings.
#[derive(Debug)]
pub enum Job {
    Init(InitSettings),
    Report(ReportSettings),
    Send(SendSettings),
    Forget(ForgetSettings),
    Collect(CollectSettings),
    Summary(SummarySettings),
    Export(ExportSettings),
    Dashboard(DashboardSettings),
    Backup(BackupSettings),
}

impl Job {
    /// Validate `command`'s flags, filling each one not given from `env`.
    pub fn resolve(command: Command, env: &Env) -> Result<Job> {
        Ok(match command {
            Command::Init(a) => Job::Init(InitSettings::resolve(a, env)?),
            Command::Report(a) => Job::Report(ReportSettings::resolve(a, env)?),
            Command::Send(a) => Job::Send(SendSettings::resolve(a, env)?),
            Command::Forget(a) => Job::Forget(ForgetSettings::resolve(a, env)?),
            Command::Collect(a) => Job::Collect(CollectSettings::resolve(a, env)?),
            Command::Summary(a) => Job::Summary(SummarySettings::resolve(a, env)?),
            Command::Export(a) => Job::Export(ExportSettings::resolve(a, env)?),
            Command::Dashboard(a) => Job::Dashboard(DashboardSettings::resolve(a, env)?),
            Command::Backup(a) => Job::Backup(BackupSettings::resolve(a, env)?),
        })
    }

    pub fn run(self) -> Result<()> {
        match self {
            Job::Init(s) => crate::reporter::init(&s),
            Job::Report(s) => crate::reporter::report(&s),
            Job::Send(s) => crate::reporter::send::send(&s),
            Job::Forget(s) => crate::reporter::forget::forget(&s),
            Job::Collect(s) => collect::run(s),
            Job::Summary(s) => views::summary::run(&s),
            Job::Export(s) => views::export::run(&s),
            Job::Dashboard(s) => views::dashboard::run(s),
            Job::Backup(s) => views::backup::run(&s),
        }
    }
}
