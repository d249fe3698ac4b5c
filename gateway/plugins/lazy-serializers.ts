/**
 * Response serializers built on a route's first answer instead of at start. fastify builds one
 * fast-json-stringify function per route and status while it registers the routes, in one
 * synchronous stretch: with every domain's routes that held the event loop for 2–6 s, and a
 * database connect begun meanwhile (the recorder's, a request's) met its 2 s timeout although
 * the server had answered. Each serializer is the one fastify would have built, only later.
 */
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import type { FastifyServerOptions } from 'fastify';

type SerializerFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildSerializer'];

export function lazySerializers(): SerializerFactory {
  const build = SerializerSelector();
  return (externalSchemas, options) => {
    const compile = build(externalSchemas, options);
    return (route) => {
      let serialize: ((data: unknown) => string) | undefined;
      return (data) => {
        serialize ??= compile(route);
        return serialize(data);
      };
    };
  };
}
