"""The readiness scheduler: polls batches oldest first, learns the boot time, never polls early twice."""
from app.tasks.readiness import Readiness


def test_polls_oldest_first_and_respects_the_limit():
    r = Readiness(first_poll=0.5)
    r.add("b", ["i3"], created=2.0)
    r.add("a", ["i1", "i2"], created=1.0)
    assert [g.key for g in r.due(now=10.0, limit=5)] == ["a", "b"]
    assert [g.key for g in r.due(now=10.0, limit=1)] == ["a"]
    assert r.due(now=1.2, limit=5) == []  # not due before created + first_poll
    assert r.pending == 3


def test_learns_boot_time_from_the_last_poll_that_was_not_ready():
    r = Readiness(first_poll=0.5, cap=1.0)
    r.add("first", ["a"], created=0.0)
    r.add("later", ["b"], created=5.0)
    first = r.groups["first"]
    first.in_flight = True
    r.observed(first, [], now=9.0)  # not ready at age 9
    first.in_flight = True
    r.observed(first, ["a"], now=10.5)  # ready at age 10.5: boot is at least 9
    assert r.boot == 9.0 and "first" not in r.groups
    later = r.groups["later"]
    assert later.next_poll == 14.0  # created 5 + learned 9, not polled before it can be ready
    later.in_flight = True
    r.observed(later, [], now=14.0)
    assert 14.0 < later.next_poll <= 14.5  # then short intervals


def test_interval_grows_and_is_capped_before_anything_is_ready():
    r = Readiness(first_poll=0.5, cap=1.0)
    r.add("g", ["x"], created=0.0)
    g = r.groups["g"]
    polls = []
    now = g.next_poll
    for _ in range(6):
        polls.append(now)
        g.in_flight = True
        r.observed(g, [], now)
        now = g.next_poll
    gaps = [b - a for a, b in zip(polls, polls[1:])]
    assert gaps == sorted(gaps) and max(gaps) == 1.0


def test_expired_and_remove():
    r = Readiness()
    r.add("g", ["x", "y"], created=0.0)
    assert sorted(r.expired(now=700.0, timeout=600.0)) == ["x", "y"]
    assert r.expired(now=100.0, timeout=600.0) == []
    r.remove(["x", "y"])
    assert r.groups == {} and r.pending == 0
