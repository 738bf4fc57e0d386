"""QRS enumerations shared by the task runner and the filter evaluator."""

# Task execution status, by value (QRS `status` enum, 0-14).
STATUS_NAMES = (
    "NeverStarted",
    "Triggered",
    "Started",
    "Queued",
    "AbortInitiated",
    "Aborting",
    "Aborted",
    "FinishedSuccess",
    "FinishedFail",
    "Skipped",
    "Retry",
    "Error",
    "Reset",
    "DistributionQueue",
    "DistributionRunning",
)
