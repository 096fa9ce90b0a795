//! How eoscheck speaks to whoever started it: [`failure`], the exit codes
//! and the errors that choose them (a usage error is 64, whatever the
//! command); [`logging`], the log lines, the progress bars they make room
//! for, the run's own log, and `--json`'s one object on stdout.
//!
//! The bottom of the harness: every other room may use it, it uses none.

pub mod failure;
pub mod logging;
