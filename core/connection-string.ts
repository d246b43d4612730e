// Azure's `Name=value;Name=value` connection strings (Storage, Cosmos DB, SQL, Service Bus,
// Event Hubs, Event Grid, ...): one reader for every kind that stores one.

/**
 * The fields of a connection string: names lower-cased with inner white space folded
 * ("Initial  Catalog" is "initial catalog"), values trimmed and free to contain "=" (base64
 * padding). A later field of the same name wins; parts without a name are skipped.
 */
export function connectionStringFields(value: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const part of value.split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    fields.set(part.slice(0, eq).trim().toLowerCase().replace(/\s+/g, " "), part.slice(eq + 1).trim());
  }
  return fields;
}
