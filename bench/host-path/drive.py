"""Publishes N orders to orders.placed and waits for N results on orders.totalled.

Usage: drive.py NATS_URL N [TIMEOUT_SECONDS], or drive.py NATS_URL --create-stream to
create the stream ORDERS on orders.placed first (for a JetStream trigger); with SUBJECTS=N the
orders go round-robin to orders.placed.0 .. N-1. The driver for measure.sh: it runs in its own
process, so what is counted in the host's process is the host alone. Needs nats-py
(the benchmark's venv under target/bench-venv has it).
"""
import asyncio, json, os, sys, time
import nats

def order(n):
    return json.dumps({"id": f"o-{n}", "customer": f"c-{n%100}", "items": [
        {"sku": "A", "qty": 2, "price": 1999},
        {"sku": "B", "qty": 1, "price": 500 + n % 7},
        {"sku": "C", "qty": 3, "price": 250}]}, separators=(",", ":")).encode()

async def main(url, n, timeout):
    nc = await nats.connect(url, pending_size=1 << 30)
    got = 0
    done = asyncio.Event()
    async def cb(msg):
        nonlocal got
        got += 1
        if got >= n:
            done.set()
    await nc.subscribe("orders.totalled", cb=cb, pending_msgs_limit=2_000_000, pending_bytes_limit=1 << 30)
    await nc.flush()
    payloads = [order(i) for i in range(n)]
    spread = int(os.environ.get("SUBJECTS", "1"))
    subjects = ["orders.placed"] if spread == 1 else [f"orders.placed.{s}" for s in range(spread)]
    t = time.perf_counter()
    for i, p in enumerate(payloads):
        await nc.publish(subjects[i % spread], p)
        if i % 500 == 0:
            await asyncio.sleep(0)
    await nc.flush()
    try:
        await asyncio.wait_for(done.wait(), timeout)
    except asyncio.TimeoutError:
        pass
    el = time.perf_counter() - t
    print(f"{got}/{n} in {el:.3f}s = {got/el:.0f}/s", flush=True)
    await nc.close()

async def create_stream(url):
    nc = await nats.connect(url)
    await nc.jetstream().add_stream(name="ORDERS", subjects=["orders.placed"])
    await nc.close()

if sys.argv[2] == "--create-stream":
    asyncio.run(create_stream(sys.argv[1]))
else:
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 60))
