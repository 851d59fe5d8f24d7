//! The example applications under `functions/`, each proved end to end over a real
//! nats-server with the components its folder builds.

mod order_processing;
