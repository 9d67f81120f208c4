"""Other email queues, measured on the same sink and database as Mailroom, for comparison."""
