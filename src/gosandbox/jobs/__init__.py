"""Jobs: durable submissions with live events and cancel, stored in SQL, run here or on queue workers."""
