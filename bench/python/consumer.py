"""The Python baseline: a tutorial-style nats-py consumer doing the order-total work.

Subscribes to orders.placed, and for each order parses it, sums it and publishes
OrderTotalled to orders.totalled, with at most 50 orders in progress (asyncio.Semaphore).
Prints "ready" once subscribed.
"""

import asyncio
import json
import sys

import nats


async def main(url: str) -> None:
    nc = await nats.connect(url)
    limit = asyncio.Semaphore(50)

    async def work(msg) -> None:
        async with limit:
            order = json.loads(msg.data)
            totalled = {
                "order_id": order["id"],
                "customer": order["customer"],
                "total": sum(item["qty"] * item["price"] for item in order["items"]),
                "item_count": sum(item["qty"] for item in order["items"]),
            }
            await nc.publish("orders.totalled", json.dumps(totalled).encode(), headers=msg.headers)

    async def on_message(msg) -> None:
        asyncio.ensure_future(work(msg))

    await nc.subscribe("orders.placed", cb=on_message, pending_msgs_limit=1_000_000, pending_bytes_limit=1 << 30)
    await nc.flush()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
