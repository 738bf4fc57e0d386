"""What an admin can do with the outbox (the dashboard's alerts page): see each message's state,
send one waiting for a retry at once, send one given up on again, discard one."""

from __future__ import annotations

from pathlib import Path

from alertkit import FINANCE_TASK, alert_config
from test_delivery import run_failure

from support.qbutler import running_service
from support.waiting import until


def states(running) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for item in running.service.alerts.deliverer.outbox_items():
        found.setdefault(item.channel, []).append(item.state)
    return found


async def test_a_message_given_up_on_is_kept_across_a_restart_and_can_be_sent_again(site, udp_port, receiver,
                                                                                    tmp_path: Path):
    receiver.script("/slack", (404, {}))  # final: Slack gives up at once
    config = alert_config(site, udp_port, receiver)
    async with running_service(config, tmp_path / "q") as running:
        await run_failure(running, site)
        await until(lambda: states(running).get("slack") == ["failed"], within=15)
        [failed] = [i for i in running.service.alerts.deliverer.outbox_items() if i.state == "failed"]
        assert failed.about["taskName"] == FINANCE_TASK and "404" in (failed.error or "")
    async with running_service(config, tmp_path / "q") as running:
        deliverer = running.service.alerts.deliverer
        assert [i.record_id for i in deliverer.outbox_items() if i.state == "failed"] == [failed.record_id]
        assert await deliverer.retry_now(failed.record_id)
        await until(lambda: receiver.at("/slack"), within=15)
        await deliverer.wait_idle()
        assert deliverer.outbox_items() == []
        assert not await deliverer.retry_now(failed.record_id)  # gone once delivered


async def test_retry_now_skips_the_backoff_and_discard_drops_the_message(site, udp_port, receiver, tmp_path: Path):
    receiver.script("/slack", (503, {}))
    receiver.script("/teams", (503, {}))
    config = alert_config(site, udp_port, receiver, alertDelivery={"initialBackoffSeconds": 600,
                                                                   "maxBackoffSeconds": 600})
    async with running_service(config, tmp_path / "q") as running:
        deliverer = running.service.alerts.deliverer
        await run_failure(running, site)
        await until(lambda: states(running).get("slack") == ["retrying"] and states(running).get("teams")
                    == ["retrying"], within=15)
        by_channel = {i.channel: i for i in deliverer.outbox_items()}
        assert by_channel["slack"].next_attempt is not None and by_channel["slack"].attempts == 1
        assert await deliverer.retry_now(by_channel["slack"].record_id)
        await until(lambda: receiver.at("/slack"), within=10)
        assert await deliverer.discard(by_channel["teams"].record_id)
        await until(lambda: "teams" not in states(running), within=5)
        assert not await deliverer.discard(by_channel["teams"].record_id)
    async with running_service(config, tmp_path / "q") as running:
        # Neither comes back after a restart: one was delivered, the other discarded.
        assert {"slack", "teams"}.isdisjoint(states(running))
    assert len(receiver.at("/teams", delivered_only=False)) == 1
