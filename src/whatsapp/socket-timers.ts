import { AsyncLocalStorage, createHook } from 'node:async_hooks';

/*
 * Baileys' `end()` removes the socket's 'close' listeners before closing it, so queries still in
 * flight (digest, passive iq, pre-key upload, ...) are never rejected: their timers, up to
 * `defaultQueryTimeoutMs` (60 s) and UPLOAD_TIMEOUT (30 s), keep the event loop alive after the
 * socket is gone. Nothing returns those timers to us, so every timer created in a socket's async
 * context is unref'd as it is made: while the socket is open its TCP handle keeps the process up
 * anyway, and once it is closed the timers only time out work nobody waits for.
 */
const socketContext = new AsyncLocalStorage<true>();

const unrefHook = createHook({
  init(_asyncId, type, _triggerAsyncId, resource) {
    if (type === 'Timeout' && socketContext.getStore()) (resource as NodeJS.Timeout).unref();
  },
});
let hookEnabled = false;

/**
 * Runs `fn` (and everything it schedules, transitively) in the socket context: timers created
 * there never hold the process open. Use for building a Baileys socket and for ending it.
 */
export function inSocketContext<T>(fn: () => T): T {
  if (!hookEnabled) {
    unrefHook.enable();
    hookEnabled = true;
  }
  return socketContext.run(true, fn);
}

/**
 * Runs `fn` outside the socket context. Use for work a socket callback starts on behalf of the
 * rest of the daemon (e.g. sending an event to the session actor, whose timers must stay ref'd).
 */
export function outsideSocketContext<T>(fn: () => T): T {
  return socketContext.exit(fn);
}
