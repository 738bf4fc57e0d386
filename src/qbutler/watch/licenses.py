"""License monitors (`Butler.qlikSenseLicense`): the server license's expiry, access-license
usage per type, and the release of unused Professional/Analyzer allocations.

Release follows Butler: per enabled type (professional first), list allocations last used on or
before the cut-off day, skip quarantined ones, read each user, keep those a `neverRelease` rule
protects (first matching rule wins, its reason logged), then DELETE the rest, one by one. A QRS
error anywhere stops the run: nothing more is released, and the report says where it stopped.
`dryRun` evaluates and reports only. Every release run is reported (MQTT, webhook, when enabled)
and every deleted allocation goes to the audit trail when one is attached.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from qbutler.alerts.service import Alerts
from qbutler.config import Config
from qbutler.scheduler.cron import iso
from qbutler.sense.qrs import QrsClient, QrsError
from qbutler.watch.config import NeverRelease
from qbutler.watch.loop import Monitor

log = logging.getLogger("qbutler.watch.licenses")

DAY = 86400.0
KINDS = ("professional", "analyzer")
# Called with the fields of one record per released allocation (qbutler.auth's AuditTrail.record).
AuditWriter = Callable[..., None]
_DATE_FORMATS = ("%Y-%m-%d %I:%M:%S %p", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y")


def parse_expiry(key_details: str) -> tuple[str, datetime | None]:
    """The text after `Valid To:` in the license key details, and that date (UTC) if readable.

    Butler splits the line on ':' and so reads `2024-03-16 12:00:00 AM` as `2024-03-16 12`, an
    invalid date; qbutler reads the whole value.
    """
    match = re.search(r"Valid To:\s*(.+)", key_details or "")
    if not match:
        return "", None
    text = match.group(1).strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return text, moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except ValueError:
        pass
    for pattern in _DATE_FORMATS:
        try:
            return text, datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return text, None


def server_license_status(body: dict[str, Any], text: str, expiry: datetime | None,
                          now: datetime) -> dict[str, Any]:
    """Butler's {licenseExpired, expiryDateStr, daysUntilExpiry} for a /qrs/license answer whose
    `Valid To` is `text`, read as `expiry` (parse_expiry).

    Days count up to the expiry (ceiling) and go negative after it; Butler's absolute value
    made an expired license look as far from expiry as it is past it.
    """
    days = math.ceil((expiry - now).total_seconds() / DAY) if expiry else None
    return {"licenseExpired": body.get("isExpired") is True, "expiryDateStr": text, "daysUntilExpiry": days}


def expiry_alert(status: dict[str, Any], threshold_days: int) -> str:
    """Butler's text for the expire topic, or empty when there is nothing to warn about."""
    if status["licenseExpired"]:
        return f"Qlik Sense server license expired on {status['expiryDateStr']}"
    days = status["daysUntilExpiry"]
    if days is not None and days <= threshold_days:
        return f"Qlik Sense server license is about to expire in {days} days, on {status['expiryDateStr']}"
    return ""


class ServerLicenseMonitor(Monitor):
    name = "serverLicenseMonitor"

    def __init__(self, config: Config, qrs: QrsClient, alerts: Alerts):
        settings = config.Butler.qlikSenseLicense.serverLicenseMonitor
        super().__init__(settings.frequency)
        self.settings = settings
        self.qrs = qrs
        self.alerts = alerts
        # Plain state for metrics and the dashboard.
        self.status: dict[str, Any] = {}

    async def check(self) -> None:
        body = await self.qrs.get("license")
        text, expiry = parse_expiry(str(body.get("keyDetails") or ""))
        now = datetime.now(UTC)
        status = server_license_status(body, text, expiry, now)
        alert = expiry_alert(status, self.settings.alert.thresholdDays)
        self.status = {**status, "alert": alert, "checked": iso(now.timestamp()),
                       "expiresAt": expiry.timestamp() if expiry else None}
        if alert:
            log.warning("Server license: %s", alert)
        else:
            log.info("Server license: expires %s, in %s days", status["expiryDateStr"] or "(unknown)",
                     status["daysUntilExpiry"])
        await self.alerts.router.submit(self.alerts.site.server_license_messages(status, alert))


ACCESS_TYPES = {"professional": "professionalAccess", "analyzer": "analyzerAccess",
                "analyzer_capacity": "analyzerTimeAccess", "token_login": "loginAccess", "token_user": "userAccess"}


class AccessLicenseMonitor(Monitor):
    """Access-license usage per type (Butler writes it to InfluxDB only; kept here as plain
    state for metrics, InfluxDB and the dashboard)."""

    name = "licenseMonitor"

    def __init__(self, config: Config, qrs: QrsClient):
        super().__init__(config.Butler.qlikSenseLicense.licenseMonitor.frequency)
        self.qrs = qrs
        self.usage: dict[str, dict[str, Any]] = {}
        self.overview: dict[str, Any] = {}

    async def check(self) -> None:
        body = await self.qrs.get("license/accesstypeoverview")
        self.overview = body
        blocks = {name: body.get(key) for name, key in ACCESS_TYPES.items()}
        self.usage = {name: {k: v for k, v in block.items() if k != "enabled"}
                      for name, block in blocks.items() if isinstance(block, dict) and block.get("enabled")}
        summary = ", ".join(f"{name} {usage.get('used', usage.get('usedMinutes', usage.get('usedTokens')))} used"
                            for name, usage in self.usage.items())
        log.info("Access licenses: %s", summary or "no access type enabled")


# ----------------------------------------------------------------------------- release


def keep_reason(allocation: dict[str, Any], user: dict[str, Any], rules: NeverRelease) -> str:
    """Why a neverRelease rule protects this allocation ('' if none does); Butler's order and words."""
    owner = allocation.get("user") or {}
    directory, user_id = owner.get("userDirectory"), owner.get("userId")
    if any(r.userDir == directory and r.userId == user_id for r in rules.user):
        return "User is in the neverRelease.user list"
    names = [t.get("name") for t in user.get("tags") or []]
    for tag in rules.tag:
        if tag in names:
            return f"User tagged with '{tag}', which is in the neverRelease.tag list"
    properties = [((cp.get("definition") or {}).get("name"), cp.get("value"))
                  for cp in user.get("customProperties") or []]
    for rule in rules.customProperty:
        if (rule.name, rule.value) in properties:
            return (f"User has custom property '{rule.name}' set to '{rule.value}', "
                    "which is in the neverRelease.customProperty list")
    if directory in rules.userDirectory:
        return f"User's user directory is '{directory}', which is in the neverRelease.userDirectory list"
    for setting, key in ((rules.inactive, "inactive"), (rules.blocked, "blacklisted"),
                         (rules.removedExternally, "removedExternally")):
        value = user.get(key)
        if (setting == "yes" and value is True) or (setting == "no" and value is False):
            label = {"blacklisted": "blocked"}.get(key, key)
            return f"User has {label} status '{str(value).lower()}'"
    return ""


def cutoff(now: datetime, threshold_days: int) -> str:
    """Butler's cut-off: threshold days ago, at the end of that (local) day, as UTC ISO text."""
    day = (now.astimezone() - timedelta(days=threshold_days)).replace(hour=23, minute=59, second=59,
                                                                      microsecond=999000)
    return iso(day.timestamp())


@dataclass
class Candidate:
    kind: str
    licenseId: str
    userDir: str
    userId: str
    daysSinceLastUse: int
    lastUsed: str


class LicenseReleaser(Monitor):
    name = "licenseRelease"

    def __init__(self, config: Config, qrs: QrsClient, alerts: Alerts, audit: AuditWriter | None = None):
        settings = config.Butler.qlikSenseLicense.licenseRelease
        super().__init__(settings.frequency)
        self.settings = settings
        self.qrs = qrs
        self.alerts = alerts
        self.audit = audit
        self.last_report: dict[str, Any] = {}
        # Called with each released allocation's record, right after its DELETE (InfluxDB).
        self.release_observers: list[Callable[[dict[str, Any]], None]] = []
        # Allocations released since start-up, by kind (metrics).
        self.released: dict[str, int] = dict.fromkeys(KINDS, 0)

    async def check(self) -> None:
        report = await self.release(datetime.now(UTC))
        self.last_report = report
        await self.alerts.router.submit(self.alerts.site.license_release_messages(report))
        if report["error"]:
            raise RuntimeError(f"license release stopped: {report['error']}")

    async def release(self, now: datetime) -> dict[str, Any]:
        """One run; the report lists what was released (or would be), kept and why, and any error."""
        report: dict[str, Any] = {"dryRun": self.settings.dryRun, "time": iso(now.timestamp()), "released": [],
                                  "wouldRelease": [], "kept": [], "error": ""}
        for kind in KINDS:
            settings = getattr(self.settings.licenseType, kind)
            if not settings.enable:
                continue
            try:
                await self._release_kind(kind, settings.releaseThresholdDays, now, report)
            except QrsError as exc:
                report["error"] = str(exc)
                log.error("License release stopped, nothing more released: %s", exc)
                break
        log.info("License release%s: %d released, %d kept%s", " (dry run)" if self.settings.dryRun else "",
                 len(report["released"]), len(report["kept"]),
                 f", {len(report['wouldRelease'])} would be released" if self.settings.dryRun else "")
        return report

    async def _release_kind(self, kind: str, threshold: int, now: datetime, report: dict[str, Any]) -> None:
        path = f"license/{kind}accesstype"
        allocations = await self.qrs.get(f"{path}/full", {"filter": f"lastUsed le '{cutoff(now, threshold)}'"})
        if not isinstance(allocations, list):
            raise QrsError("GET", path, 200, "the answer is not a list of allocations")
        candidates: list[Candidate] = []
        for allocation in allocations:
            if allocation.get("quarantined"):
                continue
            owner = allocation.get("user") or {}
            user = await self.qrs.get(f"user/{owner.get('id')}")
            last_used = str(allocation.get("lastUsed") or "")
            try:
                used = datetime.fromisoformat(last_used.replace("Z", "+00:00"))
                days = math.floor((now - used).total_seconds() / DAY)
            except ValueError:
                days = -1
            reason = keep_reason(allocation, user, self.settings.neverRelease)
            who = f"{owner.get('userDirectory')}\\{owner.get('userId')}"
            if reason:
                log.info("License for user %s not released because: %s", who, reason)
                report["kept"].append({"kind": kind, "user": who, "reason": reason})
                continue
            candidates.append(Candidate(kind, str(allocation.get("id")), str(owner.get("userDirectory")),
                                        str(owner.get("userId")), days, last_used))
        if self.settings.dryRun:
            for candidate in candidates:
                log.info("Dry run: would release the %s license of %s\\%s (unused for %d days)", kind,
                         candidate.userDir, candidate.userId, candidate.daysSinceLastUse)
            report["wouldRelease"] += [asdict(c) for c in candidates]
            return
        for candidate in candidates:
            await self.qrs.request("DELETE", f"{path}/{candidate.licenseId}", expect=(204,))
            record = asdict(candidate)
            report["released"].append(record)
            self.released[kind] += 1
            for observer in self.release_observers:
                observer(record)
            log.warning("Released the %s license of %s\\%s (unused for %d days)", kind, candidate.userDir,
                        candidate.userId, candidate.daysSinceLastUse)
            if self.audit is not None:
                self.audit(action="license.release", **record)
