"""What the tests share: servers, sandboxes, clients and data they start and check."""
