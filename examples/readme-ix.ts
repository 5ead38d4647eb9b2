// README example: composing with ix. The loop's events are an AsyncIterableX,
// so ix operators turn every connection's input into one stream of lines.
import { AF_INET, Channel, ChannelMap, SOCK_STREAM, closeAll, loop } from 'asyncore';
import type { Address, ChannelEvent, LoopEvent } from 'asyncore';
import { filter, map, take, tap } from 'ix/asynciterable/operators';

type ReadEvent = Extract<ChannelEvent, { type: 'read' }>;

const serverSide = new ChannelMap();
const server = new Channel(null, serverSide);
server.createSocket(AF_INET, SOCK_STREAM);
server.bind(['127.0.0.1', 0]);
server.listen(5);
await server.opened;

// Three clients, in a map of their own, each send one line and close.
const clientSide = new ChannelMap();
for (const name of ['ada', 'bob', 'cy']) {
  const client = new Channel(null, clientSide);
  client.createSocket(AF_INET, SOCK_STREAM);
  client.connect(server.addr as Address);
  client.write(`hello from ${name}`).then(() => { client.close(); }, console.error);
}

const lines = loop({ map: serverSide, timeout: 5 }).pipe(
  tap((ev: LoopEvent) => {
    if (ev.type !== 'accept') return;
    const pair = server.accept();
    if (pair !== null) new Channel(pair[0], serverSide);
  }),
  filter((ev): ev is ReadEvent => ev.type === 'read'),
  map((ev) => ev.channel.recv(4096)),
  filter((data): data is Buffer => data !== null && data.length > 0), // an empty buffer is an end of stream
  map((data) => data.toString()),
  take(3), // stops the loop's iteration after three lines
);

for await (const line of lines) console.log(`server: ${line}`);
closeAll(serverSide);
closeAll(clientSide);
