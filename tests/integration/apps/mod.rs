//! The example applications under `functions/`, each proven end to end over a real
//! nats-server with its real components and manifests.

mod bank_accounts;
mod fulfilment_saga;
mod marketplace;
mod order_processing;
