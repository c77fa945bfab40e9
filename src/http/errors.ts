import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ServiceError, type ServiceErrorKind } from '../sessions/errors.js';

/** An error whose status, code and message are meant for the client. */
export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

const KIND_STATUS: Record<ServiceErrorKind, number> = {
  not_found: 404,
  conflict: 409,
  invalid: 400,
  unavailable: 503,
};

/** Codes for 4xx errors raised by Fastify and its plugins (their messages are safe to show). */
const STATUS_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable_entity',
  429: 'rate_limited',
};

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return details === undefined ? { error: { code, message } } : { error: { code, message, details } };
}

interface ValidationIssue {
  instancePath: string;
  message?: string;
  keyword: string;
  params: Record<string, unknown>;
}

/** Ajv errors as `{ field, message }`, with the field spelled `body.device_name`, `params.id`, ... */
function validationDetails(part: string, issues: ValidationIssue[]) {
  return issues.map((issue) => {
    const path = issue.instancePath
      .split('/')
      .filter(Boolean)
      .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
    let message = issue.message ?? 'is invalid';
    if (issue.keyword === 'required') {
      path.push(String(issue.params.missingProperty));
      message = 'is required';
    } else if (issue.keyword === 'additionalProperties') {
      path.push(String(issue.params.additionalProperty));
      message = 'is not allowed';
    }
    return { field: [part, ...path].join('.'), message };
  });
}

/** One error format for every failure; 5xx answers never carry the internal message. */
export function toErrorReply(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof ApiError) {
    return { status: err.statusCode, body: errorBody(err.code, err.message, err.details) };
  }
  if (err instanceof ServiceError) {
    return { status: KIND_STATUS[err.kind], body: errorBody(err.code, err.message, err.details) };
  }
  const fe = err as Partial<FastifyError> & { validation?: ValidationIssue[] };
  if (fe.validation) {
    const details = validationDetails(fe.validationContext ?? 'request', fe.validation);
    const fields = [...new Set(details.map((d) => d.field))].join(', ');
    return { status: 400, body: errorBody('validation_error', `invalid request: ${fields}`, details) };
  }
  const status = fe.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = STATUS_CODES[status] ?? 'bad_request';
    const message = status === 400 && err instanceof SyntaxError ? 'body is not valid JSON' : fe.message;
    return { status, body: errorBody(code, message || code) };
  }
  return { status: 500, body: errorBody('internal_error', 'internal server error') };
}

/**
 * The app-wide error handler, the 404 handler, and 405 for a known path with another method.
 * Route patterns are collected as they are added, so register this before any route.
 */
export function installErrorHandling(app: FastifyInstance): void {
  const routes: { pattern: RegExp; methods: string[] }[] = [];
  app.addHook('onRoute', (route) => {
    const methods = ([] as string[]).concat(route.method);
    const source = route.url
      .replace(/\/+$/, '')
      .split('/')
      .map((segment) =>
        segment === '*'
          ? '.*'
          : segment.startsWith(':')
            ? '[^/]+'
            : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
      )
      .join('/');
    routes.push({ pattern: new RegExp(`^${source}/?$`), methods });
  });

  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const { status, body } = toErrorReply(err);
    if (status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code: body.error.code, status }, 'request refused');
    return reply.code(status).type('application/json; charset=utf-8').send(body);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    const allowed = new Set(routes.filter((r) => r.pattern.test(path)).flatMap((r) => r.methods));
    if (allowed.size > 0) {
      return reply
        .code(405)
        .header('allow', [...allowed].sort().join(', '))
        .send(errorBody('method_not_allowed', `method ${request.method} is not allowed on this path`));
    }
    return reply.code(404).send(errorBody('not_found', 'route not found'));
  });
}
