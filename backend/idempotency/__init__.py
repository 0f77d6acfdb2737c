"""Idempotency-Key on the task writes: the key store (store) and its HTTP glue (requests).
A concern of the HTTP interface, not a task rule: the task rules return rows, the routes
turn them into answers, and this package keeps those answers for retries."""
