// A bound on every wait: a regression that stops an event from coming fails
// the test with the name of what it waited for, instead of hanging the file
// until tap's timeout. The tests wait on the event itself; the bound is only
// a backstop, generous so that a busy machine does not trip it.

/** How long a wait may take unless told otherwise. */
export const DEADLINE_MS = 10_000;

let makingTimer = false;

/**
 * Whether deadline() is creating its own timer at this moment: a test that
 * counts the async resources its code creates (hygiene.test.ts) leaves it out.
 */
export function makingDeadlineTimer(): boolean {
  return makingTimer;
}

/** `promise`, or a rejection if it has not settled within `ms`. */
export async function deadline<T>(promise: Promise<T>, what: string, ms = DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    makingTimer = true;
    try {
      timer = setTimeout(() => { reject(new Error(`${what}: still waiting after ${ms} ms`)); }, ms);
    } finally {
      makingTimer = false;
    }
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Resolves once `condition` holds, checking every 5 ms; fails after `ms`. Only
 * for the kernel's state (/proc/net/tcp, an accept queue), which sends no
 * event to wait on.
 */
export async function until(condition: () => boolean, what: string, ms = DEADLINE_MS): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`Timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
