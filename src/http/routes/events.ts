import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { FeedEvent } from '../../session-events.js';
import { ApiError } from '../errors.js';
import { ErrorSchema } from '../schemas/common.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route also takes the bearer token as `?access_token=` (browser EventSource cannot set headers). */
    queryToken?: boolean;
  }
}

const EVENT_ID = /^[0-9]{1,19}$/;
const REPLAY_PAGE = 500;
const DEFAULT_HEARTBEAT_MS = 15_000;

const StreamQuerySchema = Type.Object(
  {
    access_token: Type.Optional(
      Type.String({ description: 'The bearer token, for clients that cannot set headers (EventSource)' }),
    ),
    last_event_id: Type.Optional(
      Type.String({
        pattern: EVENT_ID.source,
        description: 'Replay events after this id (like Last-Event-ID)',
      }),
    ),
  },
  { additionalProperties: false },
);

const iso = (ms: number | null | undefined) => (ms == null ? null : new Date(ms).toISOString());

/** The `data:` of one `event: transition`. */
export function transitionData({ record: r, view: v }: FeedEvent, maxAttempts: number) {
  return {
    id: r.id,
    session_id: r.sessionId,
    from: r.from,
    to: r.to,
    event: r.event,
    attempt: r.attempt,
    max_attempts: v?.maxAttempts ?? maxAttempts,
    delay_ms: r.delayMs,
    reason: r.reason,
    code: r.code,
    task_id: r.taskId,
    at: r.at.toISOString(),
    // The session as it is when the event is sent (null once it is deleted).
    session: v
      ? {
          status: v.status,
          attempt: v.attempt,
          max_attempts: v.maxAttempts,
          next_retry_at: iso(v.nextRetryAt),
          failure_reason: v.failureReason,
          last_error: v.lastError && { ...v.lastError, at: iso(v.lastError.at) },
          connected_at: iso(v.connectedAt),
        }
      : null,
  };
}

function lastEventId(request: FastifyRequest, query: { last_event_id?: string }): string | undefined {
  const header = request.headers['last-event-id'];
  const value = query.last_event_id ?? (Array.isArray(header) ? header[0] : header)?.trim();
  if (value === undefined || value === '') return undefined;
  if (!EVENT_ID.test(value)) {
    throw new ApiError(400, 'validation_error', 'invalid request: headers.last-event-id', [
      { field: 'headers.last-event-id', message: 'must be an event id' },
    ]);
  }
  return value;
}

/**
 * `GET /sessions/events/stream/`: Server-Sent Events of the caller's session transitions (an
 * admin's: every session's). `Last-Event-ID` (or `?last_event_id=`) replays from the events table
 * first. Authentication is the parent's hook; this route also takes `?access_token=`.
 */
const eventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { events, maxAttempts } = app.observability;
  const heartbeatMs = app.observability.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const open = new Set<() => void>();
  // Streams never go idle, so the server would wait for them on close.
  app.addHook('preClose', async () => {
    for (const end of open) end();
  });

  app.get(
    '/sessions/events/stream/',
    {
      config: { queryToken: true },
      schema: {
        tags: ['sessions'],
        security: [{ bearerAuth: [] }],
        summary: 'Live session transitions (Server-Sent Events)',
        description:
          "Each transition of the caller's sessions as `event: transition`, `id: <event row id>`, `data: {...}` " +
          'once it is written to the events table; `: ping` comments keep the connection open. ' +
          'With `Last-Event-ID` (or `?last_event_id=`) the stored events after that id come first. ' +
          'Browsers (EventSource) may pass the token as `?access_token=`; it is masked in request logs.',
        querystring: StreamQuerySchema,
        response: {
          200: {
            description: 'text/event-stream',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
          400: ErrorSchema,
          401: ErrorSchema,
        },
      },
    },
    async (request, reply) => {
      const after = lastEventId(request, request.query);
      const caller = request.caller;
      const log = request.log;

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write('retry: 3000\n\n');

      const send = (e: FeedEvent) => {
        res.write(
          `id: ${e.record.id}\nevent: transition\ndata: ${JSON.stringify(transitionData(e, maxAttempts))}\n\n`,
        );
      };
      // Live events wait here while the stored ones are replayed, so none is lost or sent twice.
      let buffered: FeedEvent[] | null = [];
      const unsubscribe = events.subscribe(caller, (e) => {
        if (buffered) buffered.push(e);
        else send(e);
      });
      const heartbeat = setInterval(() => res.write(': ping\n\n'), heartbeatMs);
      let closed = false;
      const cleanup = () => {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        unsubscribe();
        open.delete(end);
      };
      const end = () => {
        cleanup();
        res.end();
      };
      open.add(end);
      res.on('close', cleanup);

      const replayed = new Set<string>();
      try {
        for (let from = after; from !== undefined && !closed; ) {
          const page = await events.replay(caller, from, REPLAY_PAGE);
          for (const e of page) {
            replayed.add(e.record.id);
            send(e);
          }
          from = page.length === REPLAY_PAGE ? page[page.length - 1].record.id : undefined;
        }
      } catch (err) {
        // The client reconnects with its Last-Event-ID.
        log.warn({ err }, 'event replay failed; closing the stream');
        end();
        return;
      }
      const pending = buffered;
      buffered = null;
      for (const e of pending) if (!replayed.has(e.record.id)) send(e);
    },
  );
};

export default eventRoutes;
