//! The example applications under `functions/`, each proved end to end over a real
//! nats-server with its real components and manifests.

mod fulfilment_saga;
