metadata name = 'keyturn shared types'
metadata description = 'Types shared by the keyturn templates, and the one table of built-in roles keyturn assigns. Sources for every role ID: docs/access-model.md.'

// ---------------------------------------------------------------------------------------
// Built-in roles. The only place a role definition GUID appears in infra/. Each one was
// checked against Microsoft's built-in roles reference (the role JSON "name"/"id" fields):
// https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
// test/infra/infra.test.ts keeps the same table, with the per-category page of each role.
// ---------------------------------------------------------------------------------------

@export()
@description('Built-in role name to role definition ID (GUID). Only roles keyturn assigns are listed.')
var builtInRoleIds = {
  // Security: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/security
  'Key Vault Secrets Officer': 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  'Key Vault Certificates Officer': 'a4417e6f-fecd-4de8-b567-7b0420556985'
  'Key Vault Crypto Officer': '14b46e9e-c2b7-41b4-b07b-48a6ebf60603'
  // Storage: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage
  'Storage Account Key Operator Service Role': '81a9662b-bebf-436f-a333-f67b29880f12'
  'Storage Blob Data Owner': 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  'Storage Blob Data Contributor': 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  // Databases: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/databases
  'SQL Server Contributor': '6d8ee4ec-f05a-4a1d-8b00-a9b17e38b437'
  'DocumentDB Account Contributor': '5bd9cd88-fe45-4216-938b-f97437e15450'
  // Integration: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/integration
  'EventGrid Data Sender': 'd5a91429-5739-47e2-a06b-3470a27159e7'
  // Monitor: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/monitor
  'Monitoring Metrics Publisher': '3913510d-42f4-4e42-8a64-420c390055eb'
  // Privileged: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/privileged
  Contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c'
  // The access-key family (docs/access-model.md#arm-access-key-kinds). IDs from the role
  // definitions' JSON as mirrored (azure-rbac-catalog.org, azadvertizer) and, for App
  // Configuration Contributor, MicrosoftDocs/azure-docs built-in-roles.md.
  'Cognitive Services Contributor': '25fbc0a9-bd7c-42a3-aa1a-3b75d497ee68'
  'Redis Cache Contributor': 'e0f68234-74aa-48ed-b826-c38b57376e17'
  'Search Service Contributor': '7ca78c08-252a-4471-8644-bb5ff32d4ba0'
  'App Configuration Contributor': 'fe86443c-f201-4fc4-9d2a-ac61149fbda0'
  // Not found in the copy of the reference available when this was written; the ID is the
  // role's own (raw role definition JSON, mirrored at azure-rbac-catalog.org). Only used
  // with deployEmail. See docs/access-model.md.
  'Communication and Email Service Owner': '09976791-48a7-449e-bb21-39d1a415f350'
}

// ---------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------

@export()
@description('A Key Vault whose secrets (and optionally certificates and keys) keyturn rotates. The vault must use the Azure RBAC permission model.')
type vaultType = {
  @description('Required. Name of the vault.')
  @minLength(3)
  @maxLength(24)
  name: string

  @description('Required. Resource group that holds the vault.')
  @minLength(1)
  @maxLength(90)
  resourceGroup: string

  @description('Optional. Subscription that holds the vault. Default: the deployment subscription.')
  subscriptionId: string?

  @description('Optional. keyturn also renews certificates in this vault (grants Key Vault Certificates Officer). Default: false.')
  certificates: bool?

  @description('Optional. keyturn also rotates keys in this vault (grants Key Vault Crypto Officer). Default: false.')
  keys: bool?

  @description('Optional. Name of the vault\'s Event Grid system topic. A source resource can have only one system topic: if the vault already has one, give its name here and it is updated in place (it must be in the vault\'s resource group). Default: evgst-<vault name>.')
  systemTopicName: string?
}

@export()
@description('A resource whose credential keyturn rotates (storage account, SQL server, Cosmos DB account, PostgreSQL flexible server).')
type targetResourceType = {
  @description('Required. Name of the resource.')
  @minLength(1)
  name: string

  @description('Required. Resource group that holds the resource.')
  @minLength(1)
  @maxLength(90)
  resourceGroup: string

  @description('Optional. Subscription that holds the resource. Default: the deployment subscription.')
  subscriptionId: string?
}

// ---------------------------------------------------------------------------------------
// Role assignments: one list of (principal, scope resource, role)
// ---------------------------------------------------------------------------------------

@export()
@description('Resource types a keyturn role assignment may be scoped to. Never a subscription or a resource group.')
type scopeResourceTypeType = 'Microsoft.KeyVault/vaults' | 'Microsoft.Storage/storageAccounts' | 'Microsoft.Storage/storageAccounts/blobServices/containers' | 'Microsoft.Sql/servers' | 'Microsoft.DocumentDB/databaseAccounts' | 'Microsoft.DBforPostgreSQL/flexibleServers' | 'Microsoft.EventGrid/topics' | 'Microsoft.Insights/components' | 'Microsoft.Communication/communicationServices' | 'Microsoft.Web/sites' | 'Microsoft.App/containerApps' | 'Microsoft.CognitiveServices/accounts' | 'Microsoft.ServiceBus/namespaces' | 'Microsoft.EventHub/namespaces' | 'Microsoft.Cache/redis' | 'Microsoft.Search/searchServices' | 'Microsoft.AppConfiguration/configurationStores' | 'Microsoft.EventGrid/domains' | 'Microsoft.ContainerRegistry/registries'

@export()
@description('Principals that receive roles. keyturn: the function app\'s user-assigned identity. eventGridDeadLetter: the identity the Key Vault system topics use to write dead letters.')
type principalKeyType = 'keyturn' | 'eventGridDeadLetter'

@export()
@description('One role assignment: a principal gets a role on exactly one resource.')
type roleAssignmentType = {
  @description('Required. Which principal receives the role.')
  principal: principalKeyType

  @description('Required. Role definition ID (a GUID; built-in roles come from builtInRoleIds).')
  @minLength(36)
  @maxLength(36)
  roleDefinitionId: string

  @description('Required. The single resource the role is scoped to.')
  scope: {
    @description('Required. Resource type of the scope.')
    resourceType: scopeResourceTypeType

    @description('Required. Subscription that holds the resource.')
    subscriptionId: string

    @description('Required. Resource group that holds the resource.')
    resourceGroup: string

    @description('Required. Resource name. For a blob container: <account>/<container>.')
    name: string
  }

  @description('Required. Why the principal needs the role; stored as the assignment description.')
  reason: string
}
