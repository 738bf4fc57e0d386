"""InfluxDB output with Butler's measurement names, tags and fields (butler-monitoring.md §1):
`config` (Butler's keys), `line` (line protocol), `points` (the measurements), `writer` (the
batched, retried writer for InfluxDB 1.x, 2.x and 3.x)."""
