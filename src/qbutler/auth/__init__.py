"""Access control for the REST API: API keys with scopes, client addresses, client certificates,
the Host header allow-list, and the audit trail. Knows nothing of HTTP frameworks: `api/` asks it
who a request comes from and whether that identity may use a route's scope."""
