import fp from 'fastify-plugin';
import type { SessionService } from '../../sessions/session-service.js';

declare module 'fastify' {
  interface FastifyInstance {
    sessionService: SessionService;
    /** True when the database answers and the supervisor runs. */
    isReady(): Promise<boolean>;
  }
}

export interface ServicesOptions {
  sessionService: SessionService;
  isReady(): Promise<boolean>;
}

export default fp(
  async (app, opts: ServicesOptions) => {
    app.decorate('sessionService', opts.sessionService);
    app.decorate('isReady', opts.isReady);
  },
  { name: 'services' },
);
