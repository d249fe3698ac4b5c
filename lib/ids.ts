import { v7 } from 'uuid';

/** Job ids are UUIDv7: unique without coordination and sortable by creation time. */
export const newJobId = (): string => v7();

export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
