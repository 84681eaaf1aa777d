//! RabbitMQ for the services (DESIGN.md §3): the topology defined once, a supervised connection
//! that reconnects by itself, publishing with confirms (mandatory: an unroutable message is not
//! sent), and consuming with manual acknowledgements and dead-lettering.

mod broker;
mod consume;
mod publish;
pub mod topology;

pub use broker::Broker;
pub use consume::{spawn_consumer, ConsumerHandle, Incoming, Outcome};
pub use lapin;
pub use publish::{Outgoing, PublishError, Publisher};
pub use topology::{QueueSpec, Topology};
