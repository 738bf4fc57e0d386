from qbutler.activity import ActivityFeed


async def test_subscribers_receive_published_activity_and_recent_keeps_a_bounded_history():
    feed = ActivityFeed(size=3)
    queue = feed.subscribe(size=2)
    for n in range(5):
        feed.publish("task.started", f"task {n}", task=n)
    assert [a.data["task"] for a in feed.recent()] == [2, 3, 4]
    # The slow subscriber kept the newest two, and publishing never blocked.
    assert [queue.get_nowait().message for _ in range(2)] == ["task 3", "task 4"]
    feed.unsubscribe(queue)
    feed.publish("kv.write", "x")
    assert queue.empty()
    assert [a.kind for a in feed.recent("kv.")] == ["kv.write"]
