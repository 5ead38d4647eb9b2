# Python's asyncio streams as a client-side streaming reference: download
# reads up to 256 KiB per call and checks every byte (byte k of the stream is
# k % 251); upload writes 64 KiB chunks and awaits drain().
#   python3 asyncio_stream.py <port> download|upload <seconds>
import asyncio
import json
import sys
import time

CHUNK = 64 * 1024
BIG = 256 * 1024
PATTERN = bytes(i % 251 for i in range(BIG + 251))


async def main(port, direction, seconds):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=BIG)
    total = 0
    errors = 0
    started = time.perf_counter()
    deadline = started + seconds
    if direction == "download":
        writer.write(b"D")
        while True:
            data = await reader.read(BIG)
            if not data:
                break
            offset = total % 251
            if data != PATTERN[offset:offset + len(data)]:
                errors += 1
            total += len(data)
            if time.perf_counter() >= deadline:
                break
    else:
        writer.write(b"U")
        while time.perf_counter() < deadline:
            offset = total % 251
            writer.write(PATTERN[offset:offset + CHUNK])
            total += CHUNK
            await writer.drain()
    elapsed = time.perf_counter() - started
    writer.transport.abort()
    return {"bytes": total, "seconds": elapsed, "errors": errors}


sys.stdout.write("started\n")
sys.stdout.flush()
result = asyncio.run(main(int(sys.argv[1]), sys.argv[2], float(sys.argv[3])))
sys.stdout.write(json.dumps(result) + "\n")
