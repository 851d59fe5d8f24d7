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
    // A transcript records the imports' answers as JSON (see `transcript`).
    additional_derives: [serde::Serialize, serde::Deserialize],
    imports: {
        "sluice:function/kv": async,
        "sluice:function/requester": async,
        "sluice:function/secret": async,
    },
});

/// Bindings of the `batch-handler` world: `handle-batch` and the `batch` interface. The
/// interfaces it shares with `handler` are the ones generated above, so one host
/// implementation serves both worlds.
pub mod batch {
    wasmtime::component::bindgen!({
        world: "batch-handler",
        path: "../wit",
        exports: { default: async },
        with: {
            "sluice:function/types": super::sluice::function::types,
            "sluice:function/publisher": super::sluice::function::publisher,
            "sluice:function/log": super::sluice::function::log,
            "sluice:function/config": super::sluice::function::config,
            "sluice:function/secret": super::sluice::function::secret,
            "sluice:function/kv": super::sluice::function::kv,
            "sluice:function/requester": super::sluice::function::requester,
        },
    });
}

/// Bindings of the wasmCloud messaging handler world (`wit/wasmcloud/`): components built for
/// wasmCloud's `wasmcloud:messaging@0.2.0` run unchanged, with the `wasi:logging`,
/// `wasi:config` and `wasi:keyvalue` imports wasmCloud components use. The imports are async
/// because `request` and the key-value calls wait on the network; an open key-value bucket
/// is a [`KeyValueBucket`](resources::KeyValueBucket) in the store's resource table.
pub mod wasmcloud {
    wasmtime::component::bindgen!({
        world: "sluice:wasmcloud/messaging-handler",
        path: "../wit/wasmcloud",
        exports: { default: async },
        imports: { default: async },
        with: {
            "wasi:keyvalue/store.bucket": super::resources::KeyValueBucket,
            "wasmcloud:bus/lattice.call-target-interface": super::resources::CallTargetInterface,
        },
    });
}

/// What the host keeps in a store's resource table for the resources the wasmCloud imports
/// hand out (defined here, below the imports that implement them).
pub mod resources {
    /// An open `wasi:keyvalue` bucket: the name of a bucket the manifest declares.
    pub struct KeyValueBucket {
        /// The bucket's name.
        pub name: String,
    }

    /// An interface named in `wasmcloud:bus/lattice.set-link-name`.
    pub struct CallTargetInterface;
}
