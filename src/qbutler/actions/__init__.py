"""Acting on Sense: starting tasks, reloading and listing apps, dumping and snapshotting apps.

Each module takes plain arguments and returns plain values; the REST routes, MQTT, the scheduler
and the CLI all call the same functions.
"""
