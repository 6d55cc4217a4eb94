"""Identity: users, API tokens, roles, the role checks, and the hash-chained audit log."""
