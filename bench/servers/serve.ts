// serve(): the helpers' echo (chunks() in, write() out) as a serve() handler,
// with a connection cap, to compare with the hand-written loop over
// connections() in bench/servers/channel-helpers.ts. The cap is above the
// largest workload (idle-10k): it is counted on every connection, never hit.
import { serve } from 'asyncore';
import { HOST, announce } from './common.js';

const server = await serve([HOST, 0], async (channel) => {
  // serve() closes the channel when the handler returns (a reset peer included).
  for await (const chunk of channel.chunks()) await channel.write(chunk);
}, { maxConnections: 20_000, backlog: 4096, onError: () => { /* a peer that resets ends its own connection only */ } });
announce((server.addr as [string, number])[1]);
