//! The example applications under `functions/`, each proven end to end over a real
//! nats-server with its own functions and manifests.

mod bank_accounts;
