//! Host bindings generated from `wit/` (the `handler` world). Generated code stays in this
//! one file; each imported interface's host side lives in its own module under `host/`.
//! The generated items are documented in the `.wit` file, not here.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    world: "handler",
    path: "../wit",
    // `handle` runs with epoch interruption and async host calls (WASI clocks), so it is
    // called as a future. Key-value and request calls wait on the network and are async
    // too; the other imports only touch memory and stay synchronous.
    exports: { default: async },
    imports: {
        "sluice:function/kv": async,
        "sluice:function/requester": async,
    },
});
