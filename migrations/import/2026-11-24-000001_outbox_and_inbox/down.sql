DROP TABLE processed_messages;
DROP TABLE outbox;
