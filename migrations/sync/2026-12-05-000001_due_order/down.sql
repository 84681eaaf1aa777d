DROP INDEX deliveries_due_order;
