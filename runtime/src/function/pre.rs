//! The worlds a function's component may implement, each pre-linked once at load.

use crate::bindings::HandlerPre;
use crate::bindings::batch::BatchHandlerPre;
use crate::bindings::wasmcloud::MessagingHandlerPre;
use crate::imports::State;

/// A compiled component, pre-linked for the world it implements.
#[derive(Clone)]
pub enum FunctionPre {
    /// `sluice:function/handler`.
    Sluice(HandlerPre<State>),
    /// `sluice:function/batch-handler`.
    Batch(BatchHandlerPre<State>),
    /// A wasmCloud `wasmcloud:messaging@0.2.0` handler.
    WasmCloud(MessagingHandlerPre<State>),
}

impl FunctionPre {
    /// Recognises the world `instance_pre` implements: Sluice's handler, else Sluice's batch
    /// handler, else wasmCloud's messaging handler. The error names what a Sluice handler
    /// lacks.
    pub(super) fn new(instance_pre: wasmtime::component::InstancePre<State>) -> wasmtime::Result<Self> {
        let error = match HandlerPre::new(instance_pre.clone()) {
            Ok(pre) => return Ok(Self::Sluice(pre)),
            Err(error) => error,
        };
        if let Ok(pre) = BatchHandlerPre::new(instance_pre.clone()) {
            return Ok(Self::Batch(pre));
        }
        match MessagingHandlerPre::new(instance_pre) {
            Ok(pre) => Ok(Self::WasmCloud(pre)),
            Err(_) => Err(error),
        }
    }

    /// Which world the component implements, for logs.
    pub fn world(&self) -> &'static str {
        match self {
            Self::Sluice(_) => "sluice:function/handler",
            Self::Batch(_) => "sluice:function/batch-handler",
            Self::WasmCloud(_) => "wasmcloud:messaging/handler@0.2.0",
        }
    }
}
