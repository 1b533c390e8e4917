//! Every V8 call of the worker lives under this module.
//! (Stub: being implemented.)

use mcp_v8_shared::{ExecRequest, ExecResponse, WorkerConfig};

/// The V8 version string.
pub fn v8_version() -> &'static str {
    "unknown"
}

/// Runs executions, one fresh isolate each.
pub struct Engine {}

impl Engine {
    /// Initialises V8 (platform, ICU data) once per process.
    pub fn new(_config: &WorkerConfig) -> Self {
        Engine {}
    }

    /// Builds the next isolate ahead of time, while idle.
    pub fn prepare(&mut self) {}

    /// Runs one request in a fresh isolate.
    pub fn execute(&mut self, req: ExecRequest) -> ExecResponse {
        ExecResponse {
            id: req.id,
            outcome: Err(mcp_v8_shared::ExecError::Protocol("not implemented".into())),
            output: Vec::new(),
            output_truncated: false,
            duration_us: 0,
            heap: None,
        }
    }
}
