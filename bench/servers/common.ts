// What every benchmark server shares: where to listen, and how to announce it.
// The orchestrator reads the first line of standard output as JSON.
export const HOST = '127.0.0.1';

export function announce(port: number): void {
  process.stdout.write(`${JSON.stringify({ port, pid: process.pid })}\n`);
}

// SIGTERM exits normally, so `node --cpu-prof` writes its profile.
process.once('SIGTERM', () => process.exit(0));
