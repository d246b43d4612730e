// api-versions the double accepts, per resource provider namespace (lower-cased).
//
// Each list starts with the version the installed SDK sends (checked in node_modules),
// then the versions of Microsoft's published examples, then older GA versions that
// other tools (az CLI, Bicep, hand-written REST calls) commonly pin. Anything else is
// answered 400 InvalidApiVersionParameter, as ARM does, so a client that silently
// changes version is noticed.
export const SUPPORTED_API_VERSIONS: Readonly<Record<string, readonly string[]>> = {
  // @azure/arm-storage 20.0.0 sends 2025-08-01 (KnownVersions: 2025-06-01, 2025-08-01).
  "microsoft.storage": [
    "2025-08-01",
    "2025-06-01",
    "2025-01-01",
    "2024-01-01",
    "2023-05-01",
    "2023-01-01",
    "2022-09-01",
    "2022-05-01",
    "2021-09-01",
    "2021-04-01",
  ],
  // @azure/arm-sql 10.0.0 sends 2022-08-01-preview for servers (apiVersion1);
  // the ServerUpdate example is 2025-01-01 and its Location URL says 2024-08-01.
  "microsoft.sql": [
    "2022-08-01-preview",
    "2025-01-01",
    "2024-08-01",
    "2024-05-01-preview",
    "2023-08-01",
    "2023-05-01-preview",
    "2021-11-01",
    "2021-02-01-preview",
    "2020-11-01-preview",
    "2014-04-01",
  ],
  // @azure/arm-cosmosdb 16.4.0 sends 2025-10-15.
  "microsoft.documentdb": [
    "2025-10-15",
    "2025-04-15",
    "2024-11-15",
    "2024-08-15",
    "2024-05-15",
    "2023-11-15",
    "2023-04-15",
    "2022-11-15",
    "2021-10-15",
    "2021-04-15",
  ],
  // @azure/arm-postgresql-flexible 9.0.0 sends 2025-08-01; the example's operation URLs
  // carry 2024-08-01 and 2025-06-01-preview.
  "microsoft.dbforpostgresql": [
    "2025-08-01",
    "2025-06-01-preview",
    "2024-08-01",
    "2023-06-01-preview",
    "2022-12-01",
    "2021-06-01",
  ],
  // @azure/arm-keyvault 5.0.0 sends 2026-02-01 (KnownVersions: 2025-05-01, 2026-02-01).
  // Consumers (emulators/arm/consumers.ts): keyturn sends the first; the Key Vault
  // references article's refresh example uses 2022-03-01.
  "microsoft.web": ["2024-04-01", "2023-12-01", "2023-01-01", "2022-09-01", "2022-03-01"],
  "microsoft.app": ["2025-01-01", "2024-03-01", "2023-05-01"],
  "microsoft.keyvault": ["2026-02-01", "2025-05-01", "2024-11-01", "2023-07-01", "2023-02-01", "2022-07-01", "2021-10-01"],
};

export function supportedVersions(namespace: string): readonly string[] | undefined {
  return SUPPORTED_API_VERSIONS[namespace.toLowerCase()];
}
