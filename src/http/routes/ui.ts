import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { sessionGraph } from '../../../machines/session-graph.js';

/** The page's files (src/ui), served as they are: no build step. */
const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

// Nothing from elsewhere: QR images come as blob: URLs of the API's PNG.
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
};

const GraphSchema = Type.Object({
  states: Type.Array(Type.String()),
  initial: Type.String(),
  edges: Type.Array(
    Type.Object({ from: Type.String(), to: Type.String(), events: Type.Array(Type.String()) }),
  ),
});

/**
 * The live state page: `/` redirects to `/ui/`, which needs no token to load (it holds none); the
 * page asks for one and calls the API with it. `/ui/machine.json` is the statechart it draws,
 * derived from `sessionMachine`.
 */
const uiRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const dir = new URL('../../ui/', import.meta.url);
  const files = new Map<string, Buffer>();
  for (const name of Object.keys(ASSETS)) files.set(name, await readFile(new URL(name, dir)));
  const graph = sessionGraph();

  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/ui/'));

  app.get('/ui/', { schema: { hide: true } }, async (_request, reply) =>
    reply.headers(SECURITY_HEADERS).type(ASSETS['index.html']).send(files.get('index.html')),
  );

  app.get(
    '/ui/machine.json',
    {
      schema: {
        tags: ['operations'],
        summary: 'The session statechart: visible states and the events between them',
        response: { 200: GraphSchema },
      },
    },
    async () => graph,
  );

  app.get<{ Params: { file: string } }>('/ui/:file', { schema: { hide: true } }, async (request, reply) => {
    const body = files.get(request.params.file);
    if (!body || request.params.file === 'index.html') {
      return reply.code(404).send({ error: { code: 'not_found', message: 'route not found' } });
    }
    return reply.headers(SECURITY_HEADERS).type(ASSETS[request.params.file]).send(body);
  });
};

export default uiRoutes;
