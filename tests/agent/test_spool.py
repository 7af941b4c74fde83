"""The agent's batch spool: order across restarts, durability leftovers, eviction only past
max_bytes and oldest first."""
from collectors.agent.spool import BatchSpool


def payload(size: int, fill: bytes = b"x") -> bytes:
    return fill * size


def test_batches_come_out_in_order_across_a_restart(tmp_path):
    spool = BatchSpool(tmp_path, 10_000)
    spool.open()
    for number in range(3):
        assert spool.append(payload(100, bytes([65 + number])), events=number + 1) is None
    (tmp_path / ".00000000000000000009-5.zst.tmp").write_bytes(b"half-written")
    again = BatchSpool(tmp_path, 10_000)
    again.open()
    assert not list(tmp_path.glob("*.tmp")), "an unfinished batch was kept"
    assert (again.batches, again.events, again.bytes) == (3, 6, 300)
    head = again.head()
    assert again.read(head) == payload(100, b"A")
    again.remove(head)
    assert again.read(again.head()) == payload(100, b"B")
    again.append(payload(10, b"D"), events=1)
    assert again.head().seq == 1 and max(int(p.name[:20]) for p in tmp_path.iterdir()) == 3


def test_eviction_takes_the_oldest_and_only_past_max_bytes(tmp_path):
    spool = BatchSpool(tmp_path, 1000)
    spool.open()
    for _ in range(4):
        assert spool.append(payload(250), events=10) is None  # exactly full: nothing evicted
    assert spool.bytes == 1000
    first = spool.head()
    eviction = spool.append(payload(300), events=7)
    assert (eviction.batches, eviction.events, eviction.bytes) == (2, 20, 500)
    assert (eviction.first_seq, eviction.last_seq) == (0, 1)
    assert spool.bytes == 800 and spool.events == 27
    assert not spool.contains(first)
    spool.remove(first)  # acknowledged after eviction took it: nothing happens
    assert spool.bytes == 800
    assert spool.head().seq == 2


def test_a_batch_larger_than_the_spool_is_kept_alone(tmp_path):
    spool = BatchSpool(tmp_path, 1000)
    spool.open()
    spool.append(payload(600), events=1)
    eviction = spool.append(payload(1500), events=2)
    assert eviction.batches == 1
    assert (spool.batches, spool.bytes) == (1, 1500)
