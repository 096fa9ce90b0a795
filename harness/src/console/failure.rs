//! Why a command failed, as one of the exit codes the README documents: scripts
//! and CI branch on them.

use std::fmt;

/// A failure that maps to one of eoscheck's documented exit codes. Errors that do
/// not carry one are reported as infrastructure failures (3): the harness could
/// not do its job, which says nothing about the producer under test.
#[derive(Debug)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

/// The exit code of a usage error.
pub const USAGE_EXIT: i32 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The run could not establish an answer (exit 2).
    Unknown,
    /// Engine, image or cluster trouble (exit 3).
    Infrastructure,
    /// Bad flags, names or files given by the user (exit 64).
    Usage,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> anyhow::Error {
        Self::error(FailureKind::Usage, message)
    }

    pub fn infrastructure(message: impl Into<String>) -> anyhow::Error {
        Self::error(FailureKind::Infrastructure, message)
    }

    /// The user or the system stopped the command: whatever it was establishing
    /// stays unknown.
    pub fn interrupted(signal: &str) -> anyhow::Error {
        Self::error(
            FailureKind::Unknown,
            format!("interrupted by {signal}; containers were removed"),
        )
    }

    fn error(kind: FailureKind, message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Failure {
            kind,
            message: message.into(),
        })
    }

    /// The exit code for any error: its `Failure` kind if one is in the chain.
    pub fn exit_code(err: &anyhow::Error) -> i32 {
        match err.chain().find_map(|e| e.downcast_ref::<Failure>()) {
            Some(Failure {
                kind: FailureKind::Unknown,
                ..
            }) => 2,
            Some(Failure {
                kind: FailureKind::Usage,
                ..
            }) => USAGE_EXIT,
            _ => 3,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}
