"""Fan-out through NATS JetStream: the outbox relay, subject names, subscriber feeds."""
