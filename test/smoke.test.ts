import t from 'tap';
import { families, listener, client, acceptOne, readExactly, testMap } from './helpers/net.js';

for (const fam of families) {
  t.test(`Channel.write() and chunks() echo over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const server = await listener(t, map, fam);
    const c = client(t, map, fam, server);
    const s = await acceptOne(t, server, map);
    await c.opened;
    await c.write('hello');
    t.equal((await readExactly(s, 5)).toString(), 'hello');
  });
}
