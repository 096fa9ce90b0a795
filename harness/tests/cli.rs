//! Exit codes of the command line itself, before any cluster is involved.

use std::process::Command;

fn eoscheck(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eoscheck"))
        .args(args)
        .output()
        .expect("the eoscheck binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().expect("exited, not killed"), stderr)
}

/// A flag clap rejects is a usage error (64), never clap's default 2, which
/// eoscheck reserves for an unknown verdict.
#[test]
fn bad_flags_are_usage_errors() {
    for args in [
        &["run", "--time-limit", "abc"][..],
        &["bench", "checker", "--records", "many"],
        &["no-such-command"],
        &["run", "--preset", "no-such-preset"],
    ] {
        let (code, stderr) = eoscheck(args);
        assert_eq!(code, 64, "{args:?}: {stderr}");
        assert!(!stderr.is_empty(), "{args:?} says what was wrong");
    }
}

#[test]
fn help_is_not_an_error() {
    assert_eq!(eoscheck(&["--help"]).0, 0);
    assert_eq!(eoscheck(&["run", "--help"]).0, 0);
}
