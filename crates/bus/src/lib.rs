//! RabbitMQ for the services (docs/architecture.md#messages): the topology defined once, a supervised connection
//! that reconnects by itself, publishing with confirms (mandatory: an unroutable message is not
//! sent), consuming with manual acknowledgements and dead-lettering, and the dead letters read
//! back and replayed.

mod broker;
mod consume;
pub mod dead_letter;
mod publish;
pub mod topology;

pub use broker::Broker;
pub use consume::{
    spawn_batch_consumer, spawn_consumer, BatchDecision, BatchLimits, ConsumerHandle, Decoded,
    HandlerDecision, Incoming,
};
pub use dead_letter::{replay, spawn_dead_letter_consumer, DeadLetter};
pub use lapin;
pub use publish::{Outgoing, PublishError, Publisher};
pub use topology::{QueueSpec, Topology};
