import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';

export interface Validator<T> {
  check(value: unknown): value is T;
  /** Human-readable reasons, each naming the failing field. */
  errors(value: unknown): string[];
}

/** A compiled validator for a TypeBox schema (the same schema fastify validates the API with). */
export function validator<T>(schema: TSchema): Validator<T> {
  const compiled = Compile(schema);
  return {
    check: (value): value is T => compiled.Check(value),
    errors: (value) => [...compiled.Errors(value)].slice(0, 10).map((e) => `${e.instancePath || '/'} ${e.message}`),
  };
}
