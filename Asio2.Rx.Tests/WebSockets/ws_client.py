# A Python `websockets` client for the interop tests: text, binary, fragmented, ping, then close 4004.
# Prints "ok" or raises. Usage: python3 ws_client.py <url>
import asyncio, sys
import websockets

async def main(url):
    async with websockets.connect(url, max_size=2**24) as ws:
        await ws.send("héllo")
        assert await ws.recv() == "héllo"
        await ws.send(b"\x00\x01\xff")
        assert await ws.recv() == b"\x00\x01\xff"
        await ws.send(["frag", "men", "ted"])          # one message in three frames
        assert await ws.recv() == "fragmented"
        big = bytes(range(256)) * 4096                  # 1 MiB
        await ws.send(big)
        assert await ws.recv() == big
        await asyncio.wait_for(await ws.ping(b"py"), 10)
        print("ok", flush=True)
        await ws.close(4004, "python done")

asyncio.run(main(sys.argv[1]))
