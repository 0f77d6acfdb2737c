"""The database: the engine and its dialects (engine, sql), the units of work every
request's database access runs in (units), who gets a connection when (admission), and
what goes wrong (errors)."""
