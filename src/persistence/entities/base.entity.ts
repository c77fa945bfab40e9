import { p } from '@mikro-orm/core';

/**
 * `created_at` / `updated_at`, spread into an entity's properties. A function rather than an
 * abstract `extends` base: defineEntity in MikroORM 6 does not carry a base's properties into the
 * inferred entity type.
 */
export function timestamps() {
  return {
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  };
}
