// The policy that decides when socket-driven changes reach a channel's
// consumers: at once while one channel is busy at a time, batched after the
// poll phase once several change in one turn, and back to direct after a run
// of lone batches. Items here are plain strings; a turn ends at setImmediate.
import t from 'tap';
import { BATCH_MIN, LONE_BATCHES, PROBE_EVERY, SignalBatch } from '../../src/core/signal-batch.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A batch whose deliveries are recorded, driven the way Channel drives it:
 * with `repeats`, as a datagram channel does (every signal counts).
 */
function recorder(repeats = false): { batch: SignalBatch<string>; delivered: string[]; signal: (item: string) => void } {
  const delivered: string[] = [];
  const queued = new Set<string>();
  const batch = new SignalBatch<string>((item) => {
    queued.delete(item);
    delivered.push(item);
  });
  const signal = (item: string): void => {
    if (queued.has(item)) {
      if (repeats) batch.absorb();
    } else if (batch.defer(item, repeats)) {
      queued.add(item);
    } else {
      delivered.push(item);
    }
  };
  return { batch, delivered, signal };
}

/** Signals enough in one turn to end a probe with BATCH_MIN items seen: batching starts. */
async function startBatching(signal: (item: string) => void): Promise<void> {
  for (let i = 0; i < PROBE_EVERY; i++) signal('a');
  signal('b');
  signal('c');
  await turn();
}

t.test('SignalBatch signals at once while a single item changes, probing every PROBE_EVERY signals', async (t) => {
  const { batch, delivered, signal } = recorder();
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < PROBE_EVERY; i++) signal('only');
    await turn();
  }
  t.equal(delivered.length, 3 * PROBE_EVERY, 'every signal delivered at once');
  t.equal(batch.batching, false, 'one item per turn: no batching');
});

t.test('SignalBatch starts batching once a probe sees BATCH_MIN items change in the same turn, not fewer', async (t) => {
  const { batch, delivered, signal } = recorder();
  for (let i = 0; i < PROBE_EVERY; i++) signal('a');
  signal('b');
  await turn();
  t.equal(BATCH_MIN, 3);
  t.equal(batch.batching, false, 'two items in the probe turn: still direct');
  await startBatching(signal);
  t.equal(batch.batching, true);
  delivered.length = 0;
  signal('a');
  signal('b');
  signal('a'); // already queued: not twice
  signal('c');
  t.same(delivered, [], 'nothing delivered before the poll phase is over');
  await turn();
  t.same(delivered, ['a', 'b', 'c'], 'each changed item once, in the order they changed');
});

t.test('SignalBatch counts two signals of one item in a probe turn as one item', async (t) => {
  const { batch, signal } = recorder();
  for (let i = 0; i < PROBE_EVERY + 5; i++) signal('a');
  await turn();
  t.equal(batch.batching, false, 'bytes and room to write on one channel do not start batching');
});

t.test('SignalBatch goes back to direct signals after LONE_BATCHES batches of fewer than BATCH_MIN items', async (t) => {
  const { batch, delivered, signal } = recorder();
  await startBatching(signal);
  for (let i = 0; i < LONE_BATCHES - 1; i++) {
    signal('a');
    if (i % 2 === 0) signal('b'); // two items: still below BATCH_MIN
    await turn();
  }
  t.equal(batch.batching, true, 'still batching one small batch short of the limit');
  signal('a');
  signal('b');
  signal('c');
  await turn();
  t.equal(batch.batching, true, 'a batch of three resets the count');
  for (let i = 0; i < LONE_BATCHES; i++) {
    signal('a');
    signal('b');
    await turn();
  }
  t.equal(batch.batching, false);
  delivered.length = 0;
  signal('a');
  t.same(delivered, ['a'], 'delivered at once again');
});

t.test('SignalBatch starts batching when a probe sees one item signal again with repeats (a datagram burst)', async (t) => {
  const { batch, delivered, signal } = recorder(true);
  for (let i = 0; i < PROBE_EVERY + 2; i++) signal('udp');
  await turn();
  t.equal(batch.batching, true);
  delivered.length = 0;
  for (let i = 0; i < 10; i++) signal('udp');
  t.same(delivered, [], 'nothing delivered during the turn');
  await turn();
  t.same(delivered, ['udp'], 'ten signals, one delivery');
});

t.test('SignalBatch keeps batching a lone item while its batches absorb repeats, and stops once they do not', async (t) => {
  const { batch, signal } = recorder(true);
  for (let i = 0; i < PROBE_EVERY + 2; i++) signal('udp');
  await turn();
  for (let i = 0; i < LONE_BATCHES * 2; i++) {
    signal('udp');
    signal('udp');
    signal('udp');
    await turn();
  }
  t.equal(batch.batching, true, 'a burst per turn is not a lone batch');
  for (let i = 0; i < LONE_BATCHES; i++) {
    signal('udp');
    await turn();
  }
  t.equal(batch.batching, false, 'one datagram per turn: back to direct signals');
});

t.test('SignalBatch delivers every queued item even if one delivery throws, then throws the first error', async (t) => {
  const delivered: string[] = [];
  const batch = new SignalBatch<string>((item) => {
    if (item === 'bad') throw new Error(`cannot deliver ${item}`);
    delivered.push(item);
  });
  for (let i = 0; i < PROBE_EVERY; i++) batch.defer('x');
  batch.defer('y');
  batch.defer('z');
  await turn();
  t.equal(batch.batching, true);
  const thrown = new Promise<unknown>((resolve) => { process.once('uncaughtException', resolve); });
  t.same(['a', 'bad', 'b'].map((item) => batch.defer(item)), [true, true, true], 'all three queued');
  t.match(await thrown, { message: 'cannot deliver bad' });
  t.same(delivered, ['a', 'b'], 'the items after the failing one were delivered too');
});

t.test('SignalBatch.flushPending() delivers what waits at once; the batch turn after it delivers only what came later and is no lone batch', async (t) => {
  const { batch, delivered, signal } = recorder();
  await startBatching(signal);
  delivered.length = 0;
  batch.flushPending();
  t.same(delivered, [], 'nothing waits: nothing delivered');
  signal('a');
  signal('b');
  signal('c');
  batch.flushPending();
  t.same(delivered, ['a', 'b', 'c'], 'delivered before the turn ends');
  signal('d');
  signal('a'); // delivered already: queued again
  signal('b');
  await turn();
  t.same(delivered, ['a', 'b', 'c', 'd', 'a', 'b'], 'the turn delivers what came after the flush');
  // Small batches flushed early: each turn counts once towards LONE_BATCHES,
  // because the setImmediate that finds its queue emptied counts as no batch.
  for (let i = 0; i < LONE_BATCHES - 1; i++) {
    signal('a');
    signal('b');
    batch.flushPending();
    await turn();
  }
  t.equal(batch.batching, true, `${LONE_BATCHES - 1} small turns flushed early: still batching`);
  signal('a');
  batch.flushPending();
  await turn();
  t.equal(batch.batching, false, 'the LONE_BATCHES-th small turn ends the batching');
});
