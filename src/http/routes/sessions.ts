import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import QRCode from 'qrcode';
import { Type } from 'typebox';
import { ErrorSchema, IdParamsSchema, iso } from '../schemas/common.js';
import {
  CreateSessionBodySchema,
  EventPageSchema,
  EventsQuerySchema,
  ListSessionsQuerySchema,
  PairingCodeBodySchema,
  PairingCodeReplySchema,
  QrReplySchema,
  ReconnectReplySchema,
  SessionPageSchema,
  SessionSchema,
  StatusSummarySchema,
  toSessionDto,
  UpdateSessionBodySchema,
} from '../schemas/session.js';
import { createStatusSummaries } from '../status-summary.js';

const tags = ['sessions'];
const security = [{ bearerAuth: [] }];
const errors = { 400: ErrorSchema, 401: ErrorSchema };
const withSession = { ...errors, 404: ErrorSchema };
const limited = { ...withSession, 429: ErrorSchema };

/** The session routes of DESIGN's table, under /api/v1/whatsapp. Authentication is the parent's hook. */
const sessionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const service = app.sessionService;
  const rateLimit = app.perSessionRateLimit;
  const summaries = createStatusSummaries();

  app.post(
    '/sessions/',
    {
      schema: {
        tags,
        security,
        summary: 'Create a session',
        body: CreateSessionBodySchema,
        response: { 201: SessionSchema, ...errors, 413: ErrorSchema },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const created = await service.create(request.caller, {
        deviceName: b.device_name,
        phoneNumber: b.phone_number,
        autoReconnect: b.auto_reconnect,
        proxyEnabled: b.proxy_enabled,
        proxyUrl: b.proxy_url,
        start: b.start,
      });
      return reply.code(201).send(toSessionDto(created));
    },
  );

  app.get(
    '/sessions/',
    {
      schema: {
        tags,
        security,
        summary: 'List own sessions (an admin: every session)',
        querystring: ListSessionsQuerySchema,
        response: { 200: SessionPageSchema, ...errors },
      },
    },
    async (request) => {
      const { page, page_size, status } = request.query;
      const result = await service.list(request.caller, { page, pageSize: page_size, status });
      return {
        items: result.items.map(toSessionDto),
        total: result.total,
        page: result.page,
        page_size: result.pageSize,
      };
    },
  );

  app.get(
    '/sessions/status/',
    {
      schema: {
        tags,
        security,
        summary: 'State summary of every own session',
        response: { 200: StatusSummarySchema, ...errors },
      },
    },
    async (request, reply) => {
      const { caller } = request;
      const { rows, viewsVersion, viewOf } = await service.summary(caller);
      const scope = caller.admin ? 'admin' : `user:${caller.usuarioId}`;
      // Already JSON: Fastify sends a Buffer as it is, past the response serializer.
      const body = summaries.body(scope, rows, viewsVersion, viewOf);
      return (reply as FastifyReply).type('application/json; charset=utf-8').send(body);
    },
  );

  app.get(
    '/sessions/:id/',
    {
      schema: {
        tags,
        security,
        summary: 'One session',
        params: IdParamsSchema,
        response: { 200: SessionSchema, ...withSession },
      },
    },
    async (request) => toSessionDto(await service.get(request.caller, request.params.id)),
  );

  app.patch(
    '/sessions/:id/',
    {
      schema: {
        tags,
        security,
        summary: 'Update fields; a proxy change on a live session reconnects it',
        params: IdParamsSchema,
        body: UpdateSessionBodySchema,
        response: { 200: SessionSchema, ...withSession, 413: ErrorSchema },
      },
    },
    async (request) => {
      const b = request.body;
      const updated = await service.update(request.caller, request.params.id, {
        deviceName: b.device_name,
        phoneNumber: b.phone_number,
        autoReconnect: b.auto_reconnect,
        proxyEnabled: b.proxy_enabled,
        proxyUrl: b.proxy_url,
      });
      return toSessionDto(updated);
    },
  );

  app.delete(
    '/sessions/:id/',
    {
      schema: {
        tags,
        security,
        summary: 'Stop and remove a session with its credentials and events',
        params: IdParamsSchema,
        response: { 204: Type.Null({ description: 'removed' }), ...withSession },
      },
    },
    async (request, reply) => {
      await service.remove(request.caller, request.params.id);
      return reply.code(204).send(null);
    },
  );

  const stateRoutes = [
    ['start', 'Desired state running: connect (idempotent)', service.start],
    ['stop', 'Desired state stopped: close the socket, never log out (idempotent)', service.stop],
  ] as const;
  for (const [action, summary, act] of stateRoutes) {
    app.post(
      `/sessions/:id/${action}/`,
      {
        schema: {
          tags,
          security,
          summary,
          params: IdParamsSchema,
          response: { 202: SessionSchema, ...limited },
        },
        config: { rateLimit },
      },
      async (request, reply) =>
        reply.code(202).send(toSessionDto(await act(request.caller, request.params.id))),
    );
  }

  app.post(
    '/sessions/:id/reconnect/',
    {
      schema: {
        tags,
        security,
        summary: 'Close the current socket and connect again; task_id tags the episode',
        params: IdParamsSchema,
        response: { 202: ReconnectReplySchema, ...limited },
      },
      config: { rateLimit },
    },
    async (request, reply) => {
      const { taskId } = await service.reconnect(request.caller, request.params.id);
      return reply
        .code(202)
        .send({ message: 'reconnect scheduled', task_id: taskId, session_id: request.params.id });
    },
  );

  app.post(
    '/sessions/:id/logout/',
    {
      schema: {
        tags,
        security,
        summary: 'Unlink the device and wipe its credentials; the session stays, idle and stopped',
        params: IdParamsSchema,
        response: { 200: SessionSchema, ...withSession },
      },
    },
    async (request) => toSessionDto(await service.logout(request.caller, request.params.id)),
  );

  app.get(
    '/sessions/:id/qr/',
    {
      schema: {
        tags,
        security,
        summary: 'The QR to scan now: JSON, or a PNG with Accept: image/png',
        params: IdParamsSchema,
        response: {
          200: {
            description: 'the current QR',
            content: {
              'application/json': { schema: QrReplySchema },
              'image/png': { schema: Type.String({ format: 'binary' }) },
            },
          },
          ...withSession,
          409: ErrorSchema,
        },
      },
    },
    async (request, reply) => {
      const { qr, expiresAt } = await service.qr(request.caller, request.params.id);
      reply.header('cache-control', 'no-store');
      if (wantsPng(request.headers.accept)) {
        const png = await QRCode.toBuffer(qr, { type: 'png', margin: 2, width: 320 });
        return reply.type('image/png').send(png as never);
      }
      return reply.type('application/json; charset=utf-8').send({ qr, expires_at: iso(expiresAt) });
    },
  );

  app.post(
    '/sessions/:id/pairing-code/',
    {
      schema: {
        tags,
        security,
        summary: 'Link by phone number instead of QR: the code to type on the phone',
        params: IdParamsSchema,
        body: PairingCodeBodySchema,
        response: { 200: PairingCodeReplySchema, ...limited, 409: ErrorSchema, 503: ErrorSchema },
      },
      config: { rateLimit },
    },
    async (request) => service.pairingCode(request.caller, request.params.id, request.body.phone_number),
  );

  app.get(
    '/sessions/:id/events/',
    {
      schema: {
        tags,
        security,
        summary: 'Transition log, newest first',
        params: IdParamsSchema,
        querystring: EventsQuerySchema,
        response: { 200: EventPageSchema, ...withSession },
      },
    },
    async (request) => {
      const { page, page_size, task_id } = request.query;
      const result = await service.events(request.caller, request.params.id, {
        page,
        pageSize: page_size,
        taskId: task_id,
      });
      return {
        items: result.items.map((e) => ({
          id: e.id,
          at: e.at.toISOString(),
          from: e.from,
          to: e.to,
          event: e.event,
          attempt: e.attempt,
          delay_ms: e.delayMs,
          reason: e.reason,
          code: e.code,
          task_id: e.taskId,
        })),
        total: result.total,
        page: result.page,
        page_size: result.pageSize,
      };
    },
  );
};

/** PNG only when the client asks for it and does not prefer JSON. */
function wantsPng(accept: string | undefined): boolean {
  if (!accept) return false;
  const types = accept.split(',').map((part) => part.split(';')[0].trim().toLowerCase());
  const png = types.indexOf('image/png');
  const json = types.indexOf('application/json');
  return png !== -1 && (json === -1 || png < json);
}

export default sessionRoutes;
