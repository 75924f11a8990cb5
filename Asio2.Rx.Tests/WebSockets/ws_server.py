# A Python `websockets` echo server for the interop tests (an independent implementation, as a server). Prints its
# port, then echoes every message with its kind. Commands (text): "fragments" -> one message sent in three frames;
# "ping" -> pings the client and says "pong" when the pong arrives; "close:<code>:<reason>" -> closes with that code.
# Prints "closed <code> <reason>" when a connection ends. Usage: python3 ws_server.py
import asyncio
import websockets


async def echo(ws, path=None):  # websockets 10 passes the path, later versions do not
    try:
        async for message in ws:
            if message == "fragments":
                await ws.send(["frag", "men", "ted"])
            elif message == "ping":
                await asyncio.wait_for(await ws.ping(b"py"), 10)
                await ws.send("pong")
            elif isinstance(message, str) and message.startswith("close:"):
                _, code, reason = message.split(":", 2)
                await ws.close(int(code), reason)
            else:
                await ws.send(message)
    finally:
        print(f"closed {ws.close_code} {ws.close_reason}", flush=True)


async def main():
    async with websockets.serve(echo, "127.0.0.1", 0, max_size=2**25) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()

asyncio.run(main())
