import jwt from '@fastify/jwt';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Caller } from '../../sessions/session-service.js';
import { ApiError } from '../errors.js';
import type { JwtKey } from '../jwt-key.js';

interface TokenClaims {
  sub?: string | number;
  role?: string;
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: TokenClaims;
    user: TokenClaims;
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook: verifies the bearer token and sets `request.caller`, or answers 401. */
    authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  }
  interface FastifyRequest {
    caller: Caller;
  }
}

const USER_ID = /^[1-9][0-9]{0,9}$/;
const MAX_USER_ID = 2_147_483_647;

/** The caller a verified token names: `sub` is the usuario_id ("1" per RFC 7519, or 1). */
export function callerFromClaims(claims: TokenClaims): Caller | null {
  const sub = typeof claims.sub === 'number' ? String(claims.sub) : claims.sub;
  if (typeof sub !== 'string' || !USER_ID.test(sub) || Number(sub) > MAX_USER_ID) return null;
  return { usuarioId: Number(sub), admin: claims.role === 'admin' };
}

const MESSAGES: Record<string, string> = {
  FST_JWT_NO_AUTHORIZATION_IN_HEADER: 'missing bearer token',
  FST_JWT_BAD_REQUEST: 'malformed authorization header',
  FST_JWT_AUTHORIZATION_TOKEN_EXPIRED: 'token expired',
};

export default fp(
  async (app, { key }: { key: JwtKey }) => {
    await app.register(jwt, {
      secret: key.algorithm === 'HS256' ? key.secret : { public: key.publicKey },
      verify: { algorithms: [key.algorithm] },
    });
    app.decorateRequest('caller', null as unknown as Caller);
    app.decorate('authenticate', async (request: FastifyRequest) => {
      let claims: TokenClaims;
      // Only routes that opt in (the SSE stream) read `?access_token=`, and only without a header.
      const queryToken =
        request.routeOptions.config.queryToken && !request.headers.authorization
          ? (request.query as { access_token?: unknown } | undefined)?.access_token
          : undefined;
      try {
        // `extractToken` is a verify option at run time; the types only list it for registration.
        claims = await request.jwtVerify<TokenClaims>(
          typeof queryToken === 'string' ? ({ extractToken: () => queryToken } as never) : undefined,
        );
      } catch (err) {
        const code = (err as { code?: string }).code ?? '';
        throw new ApiError(401, 'unauthorized', MESSAGES[code] ?? 'invalid token');
      }
      const caller = callerFromClaims(claims);
      if (!caller) throw new ApiError(401, 'unauthorized', 'token subject is not a user id');
      request.caller = caller;
    });
  },
  { name: 'auth' },
);
