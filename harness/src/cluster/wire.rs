//! One Kafka protocol connection: framing, headers and correlation ids around the
//! `kafka-protocol` crate's message types. Just enough for the harness's own
//! requests (the final Fetch); producers under test never go through here.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::{
    messages::{RequestHeader, ResponseHeader},
    protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const CLIENT_ID: &str = "eoscheck";
/// Responses are bounded by the request's max bytes; this only guards against garbage.
const MAX_RESPONSE: usize = 256 << 20;

pub struct Connection {
    stream: TcpStream,
    next_correlation: i32,
    timeout: Duration,
}

impl Connection {
    pub async fn open(addr: &str, timeout: Duration) -> Result<Self> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .with_context(|| format!("connecting to {addr} timed out"))?
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            next_correlation: 1,
            timeout,
        })
    }

    /// Sends one request and waits for its response.
    pub async fn call<R: Request>(&mut self, version: i16, request: &R) -> Result<R::Response> {
        let correlation_id = self.next_correlation;
        self.next_correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));

        let mut frame = BytesMut::new();
        frame.put_i32(0); // length, filled in below
        header.encode(&mut frame, R::header_version(version))?;
        request.encode(&mut frame, version)?;
        let len = i32::try_from(frame.len() - 4)?;
        frame[..4].copy_from_slice(&len.to_be_bytes());

        let io = async {
            self.stream.write_all(&frame).await?;
            let len = self.stream.read_i32().await?;
            let len = usize::try_from(len).context("negative response length")?;
            if len > MAX_RESPONSE {
                bail!("response of {len} bytes is larger than any eoscheck asks for");
            }
            let mut body = BytesMut::zeroed(len);
            self.stream.read_exact(&mut body).await?;
            Ok::<_, anyhow::Error>(body.freeze())
        };
        let mut body = tokio::time::timeout(self.timeout, io)
            .await
            .context("the broker did not answer in time")??;

        let response_header =
            ResponseHeader::decode(&mut body, R::Response::header_version(version))?;
        if response_header.correlation_id != correlation_id {
            bail!(
                "response correlation id {} does not match request {correlation_id}",
                response_header.correlation_id
            );
        }
        let response = R::Response::decode(&mut body, version)?;
        if body.has_remaining() {
            bail!("{} unexpected bytes after the response", body.remaining());
        }
        Ok(response)
    }
}
