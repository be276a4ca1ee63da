//! From parsed flags to a job: each subcommand's flags are resolved into its settings once
//! (flags, then their environment variables, then defaults, all validated), then run.

use crate::cli::{Command, Env};
use crate::collector::settings::{
    BackupSettings, CollectSettings, DashboardSettings, ExportSettings, SummarySettings,
};
use crate::collector::{collect, views};
use crate::reporter;
use crate::reporter::settings::{ForgetSettings, InitSettings, ReportSettings, SendSettings};
use anyhow::Result;

/// A subcommand with its validated settings: made by [`Job::resolve`], run by [`Job::run`].
#[derive(Debug)]
pub struct Job(Kind);

#[derive(Debug)]
enum Kind {
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
        Ok(Job(match command {
            Command::Init(a) => Kind::Init(InitSettings::resolve(a, env)?),
            Command::Report(a) => Kind::Report(ReportSettings::resolve(a, env)?),
            Command::Send(a) => Kind::Send(SendSettings::resolve(a, env)?),
            Command::Forget(a) => Kind::Forget(ForgetSettings::resolve(a, env)?),
            Command::Collect(a) => Kind::Collect(CollectSettings::resolve(a, env)?),
            Command::Summary(a) => Kind::Summary(SummarySettings::resolve(a, env)?),
            Command::Export(a) => Kind::Export(ExportSettings::resolve(a, env)?),
            Command::Dashboard(a) => Kind::Dashboard(DashboardSettings::resolve(a, env)?),
            Command::Backup(a) => Kind::Backup(BackupSettings::resolve(a, env)?),
        }))
    }

    pub fn run(self) -> Result<()> {
        match self.0 {
            Kind::Init(s) => reporter::init::run(&s),
            Kind::Report(s) => reporter::report::run(&s),
            Kind::Send(s) => reporter::send::run(&s),
            Kind::Forget(s) => reporter::forget::run(&s),
            Kind::Collect(s) => collect::run(s),
            Kind::Summary(s) => views::summary::run(&s),
            Kind::Export(s) => views::export::run(&s),
            Kind::Dashboard(s) => views::dashboard::run(s),
            Kind::Backup(s) => views::backup::run(&s),
        }
    }
}
