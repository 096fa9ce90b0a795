//! `eoscheck processor` (hidden): a pipeline's processor with the librdkafka
//! linked into eoscheck, speaking the driver protocol on stdin and stdout.
//! A run starts it, as a child process, for `--client rdkafka`.

use anyhow::Result;

/// Serves one processor until it is told to close.
pub async fn execute() -> Result<i32> {
    tokio::task::spawn_blocking(crate::clients::serve_rdkafka_processor).await??;
    Ok(0)
}
