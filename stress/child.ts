// What every child process of the stress runs (a backpressure case, its peer,
// the soak) does about its parent: the parent spawns it with an IPC channel
// that carries nothing (`stdio: [..., 'ipc']`), whose end tells the child that
// the parent is gone.

/**
 * Ends this child once its parent is gone: nobody reads the report then, and
 * nothing else would end the run (a sink peer would wait for its connection
 * for ever). A report written after the parent went fails with EPIPE: that
 * too ends the child, with one line on stderr instead of an unhandled
 * 'error' event's stack trace.
 */
export function endWithParent(role: string): void {
  const stop = (why: string): void => {
    process.stderr.write(`${role} (pid ${process.pid}): ${why}; stopping\n`);
    process.exit(1);
  };
  // The channel must not keep the child alive once its work is done.
  process.channel?.unref();
  process.once('disconnect', () => { stop('the parent process went away'); });
  process.stdout.on('error', (error: NodeJS.ErrnoException) => { stop(`cannot write the report: ${error.code ?? error.message}`); });
}
