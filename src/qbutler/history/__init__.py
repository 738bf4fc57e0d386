"""The reload history: every task event qbutler processed, the starts it made, the alerts they caused.

`store.HistoryStore` is the protocol, one backend per module (`sqlite.py`, `postgresql.py`),
`factory.open_history` picks one; `recorder.Recorder` queues and batches writes so that the alert
pipeline never waits for the database; `queries` holds the read functions the API, the CLI and
the dashboard share.
"""
