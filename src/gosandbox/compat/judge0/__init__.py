"""Judge0's API (CE 1.13): its request and response shapes, its statuses, its routes."""
