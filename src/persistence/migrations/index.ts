import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261129060847 } from './Migration20261129060847.js';

/**
 * Every migration, oldest first. Listed by import rather than found by a glob so that the same
 * list works under tsx, vitest and the compiled build. `migration:create` writes the file; add it
 * here (test/persistence/migrations.test.ts fails when a file is missing from this list).
 */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261129060847', class: Migration20261129060847 },
];
