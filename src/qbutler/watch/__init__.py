"""The site watch: Sense services, licenses and version, heartbeats, qbutler's uptime and health."""
