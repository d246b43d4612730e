metadata name = 'keyturn shared types'
metadata description = 'Types shared by the keyturn templates, and the one table of built-in roles keyturn assigns. Sources for every role ID: docs/access-model.md.'

// ---------------------------------------------------------------------------------------
// Built-in roles. The only place a role definition GUID appears in infra/. Each one was
// checked against Microsoft's built-in roles reference (the role JSON "name"/"id" fields):
// https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
// test/infra/infra.test.ts keeps the same table, with the per-category page of each role.
// ---------------------------------------------------------------------------------------

@export()
@description('Built-in role name to role definition ID (GUID). Only the built-in roles keyturn assigns (on its own resources) are listed; its access to vaults and targets is through custom roles (main.bicep, roles.json).')
var builtInRoleIds = {
  // Storage: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage
  'Storage Blob Data Owner': 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  'Storage Blob Data Contributor': 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  // Integration: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/integration
  'EventGrid Data Sender': 'd5a91429-5739-47e2-a06b-3470a27159e7'
  // Monitor: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/monitor
  'Monitoring Metrics Publisher': '3913510d-42f4-4e42-8a64-420c390055eb'
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

  @description('Optional. keyturn also renews certificates in this vault (grants the keyturn Certificate Renewer role). Default: false.')
  certificates: bool?

  @description('Optional. keyturn also rotates keys in this vault (grants the keyturn Key Rotator role). Default: false.')
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

// Lists as azd environment values carry them (azd passes strings, not arrays). Entries are
// separated by commas; white space and empty entries are ignored. The preprovision hook
// (infra/hooks/check-env.mjs) has checked each entry's form before this runs.

@export()
@description('Vaults from `[<subscription id>/]<resource group>/<vault name>[+certificates][+keys], ...`.')
func parseVaults(list string) array => map(filter(map(split(list, ','), e => trim(e)), e => !empty(e)), e => union(length(split(split(e, '+')[0], '/')) == 3 ? { subscriptionId: split(split(e, '+')[0], '/')[0] } : {}, {
  resourceGroup: split(split(e, '+')[0], '/')[length(split(split(e, '+')[0], '/')) - 2]
  name: last(split(split(e, '+')[0], '/'))
  certificates: contains(skip(split(e, '+'), 1), 'certificates')
  keys: contains(skip(split(e, '+'), 1), 'keys')
}))

@export()
@description('Target resources from `[<subscription id>/]<resource group>/<name>, ...`.')
func parseTargets(list string) array => map(filter(map(split(list, ','), e => trim(e)), e => !empty(e)), e => union(length(split(e, '/')) == 3 ? { subscriptionId: split(e, '/')[0] } : {}, {
  resourceGroup: split(e, '/')[length(split(e, '/')) - 2]
  name: last(split(e, '/'))
}))

@export()
@description('Target resources from full resource IDs, `/subscriptions/<id>/resourceGroups/<group>/providers/<namespace>/<type>/<name>, ...` (what ProviderAddress tags hold), with their type.')
func parseResourceIds(list string) array => map(filter(map(split(list, ','), e => trim(e)), e => !empty(e)), e => {
  subscriptionId: split(e, '/')[2]
  resourceGroup: split(e, '/')[4]
  type: '${split(e, '/')[6]}/${split(e, '/')[7]}'
  name: split(e, '/')[8]
})

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
