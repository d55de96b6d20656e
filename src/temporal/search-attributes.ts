import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { incidentSearchAttributes, searchAttributes } from './contracts';

const IndexedValueType = temporal.api.enums.v1.IndexedValueType;

const indexedTypeByKind: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  INT: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  TEXT: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  BOOL: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  DOUBLE: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  DATETIME: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  KEYWORD_LIST: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

export interface SearchAttributeRegistration {
  added: string[];
  alreadyPresent: string[];
}

/**
 * Registers Palyra's search attributes through the operator service. Idempotent: it lists what the
 * namespace has and adds only what is missing (`--search-attribute` on the dev server only works when
 * the namespace is first created in a DB file, so we never rely on it).
 */
export async function registerSearchAttributes(connection: Connection, namespace: string): Promise<SearchAttributeRegistration> {
  const present = new Set(Object.keys((await listCustomSearchAttributes(connection, namespace)) ?? {}));
  const missing: Record<string, temporal.api.enums.v1.IndexedValueType> = {};
  const alreadyPresent: string[] = [];
  for (const key of [...Object.values(searchAttributes), ...Object.values(incidentSearchAttributes)]) {
    if (present.has(key.name)) alreadyPresent.push(key.name);
    else missing[key.name] = indexedTypeByKind[key.type] as temporal.api.enums.v1.IndexedValueType;
  }
  const added = Object.keys(missing);
  if (added.length > 0) {
    try {
      await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
    } catch (error) {
      // Another process may have registered them between our list and add.
      if (!/already exists/i.test((error as Error).message)) throw error;
    }
  }
  return { added, alreadyPresent };
}

/** Palyra's search attributes the namespace lacks (empty where the server cannot list them). */
export async function missingSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const present = await listCustomSearchAttributes(connection, namespace);
  if (!present) return [];
  return palyraSearchAttributeNames().filter((name) => !(name in present));
}

export function palyraSearchAttributeNames(): string[] {
  return [...Object.values(searchAttributes), ...Object.values(incidentSearchAttributes)].map((key) => key.name);
}

/**
 * The namespace's custom search attributes, or undefined where the server cannot list them (the
 * time-skipping test server implements only `addSearchAttributes`; adding is idempotent there).
 */
async function listCustomSearchAttributes(
  connection: Connection,
  namespace: string,
): Promise<Record<string, unknown> | undefined> {
  try {
    return (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
  } catch (error) {
    if ((error as { code?: number }).code === unimplementedGrpcStatus) return undefined;
    throw error;
  }
}

const unimplementedGrpcStatus = 12;
