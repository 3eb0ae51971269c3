//! The proxy's JSON-RPC 2.0 framing on arbitrary text: never panics, and
//! every answer is JSON with `"jsonrpc":"2.0"` (one object, or a batch).
#![no_main]

use corridor::jsonrpc::{self, RpcError};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let answer = runtime.block_on(jsonrpc::handle(text, |method, params| async move {
        if method == "t.echo" {
            Ok(params)
        } else {
            Err(RpcError::new(jsonrpc::METHOD_NOT_FOUND, "method not found"))
        }
    }));
    if let Some(answer) = answer {
        let value: Value = serde_json::from_str(&answer).expect("answers are JSON");
        let answers = match value {
            Value::Array(answers) => answers,
            one => vec![one],
        };
        for one in answers {
            assert_eq!(one["jsonrpc"], "2.0");
        }
    }
});
