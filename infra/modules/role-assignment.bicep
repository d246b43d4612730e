metadata name = 'keyturn resource role assignment'
metadata description = 'Assigns one role to one service principal on exactly one existing resource in this resource group. Deployed once per entry of the role list by role-assignments.bicep.'

import { scopeResourceTypeType } from 'types.bicep'

// Why one block per resource type: a role assignment's `scope` must be a resource symbol,
// and Bicep cannot declare an `existing` resource whose type is chosen at deployment time.
// So each supported type has its `existing` reference and its assignment, both under the
// same condition; exactly one pair is deployed. The list itself lives in main.bicep.

@description('Required. Object ID of the service principal (managed identity) that receives the role.')
param principalId string

@description('Required. Role definition ID (GUID) to assign.')
@minLength(36)
@maxLength(36)
param roleDefinitionId string

@description('Required. Resource type of the single resource the role is scoped to.')
param resourceType scopeResourceTypeType

@description('Required. Name of that resource. For a blob container: <account>/<container>.')
param resourceName string

@description('Optional. Why the principal needs the role; stored as the assignment description.')
param reason string = ''

var roleDefinitionResourceId = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionId)
var nameParts = split(resourceName, '/')
var isVault = resourceType == 'Microsoft.KeyVault/vaults'
var isStorageAccount = resourceType == 'Microsoft.Storage/storageAccounts'
var isContainer = resourceType == 'Microsoft.Storage/storageAccounts/blobServices/containers'
var isSqlServer = resourceType == 'Microsoft.Sql/servers'
var isCosmosAccount = resourceType == 'Microsoft.DocumentDB/databaseAccounts'
var isPostgresServer = resourceType == 'Microsoft.DBforPostgreSQL/flexibleServers'
var isEventGridTopic = resourceType == 'Microsoft.EventGrid/topics'
var isAppInsights = resourceType == 'Microsoft.Insights/components'
var isCommunicationService = resourceType == 'Microsoft.Communication/communicationServices'
var isSite = resourceType == 'Microsoft.Web/sites'
var isContainerApp = resourceType == 'Microsoft.App/containerApps'
var isCognitiveAccount = resourceType == 'Microsoft.CognitiveServices/accounts'
var isServiceBusNamespace = resourceType == 'Microsoft.ServiceBus/namespaces'
var isEventHubsNamespace = resourceType == 'Microsoft.EventHub/namespaces'
var isRedisCache = resourceType == 'Microsoft.Cache/redis'
var isSearchService = resourceType == 'Microsoft.Search/searchServices'
var isAppConfigurationStore = resourceType == 'Microsoft.AppConfiguration/configurationStores'
var isEventGridDomain = resourceType == 'Microsoft.EventGrid/domains'
var isContainerRegistry = resourceType == 'Microsoft.ContainerRegistry/registries'

// ---- Key Vault ----------------------------------------------------------------------
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = if (isVault) {
  name: resourceName
}

resource vaultRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isVault) {
  name: guid(vault.id, principalId, roleDefinitionResourceId)
  scope: vault
  properties: {
    roleDefinitionId: roleDefinitionResourceId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: reason
  }
}

// ---- Storage account ----------------------------------------------------------------
resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = if (isStorageAccount || isContainer) {
  name: nameParts[0]
}

resource storageAccountRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isStorageAccount) {
  name: guid(storageAccount.id, principalId, roleDefinitionResourceId)
  scope: storageAccount
  properties: {
    roleDefinitionId: roleDefinitionResourceId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: reason
  }
}

// ---- Blob container (<account>/<container>) -----------------------------------------
resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = if (isContainer) {
  parent: storageAccount
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = if (isContainer) {
  parent: blobService
  name: last(nameParts)
}

resource containerRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isContainer) {
  name: guid(container.id, principalId, roleDefinitionResourceId)
  scope: container
  properties: {
    roleDefinitionId: roleDefinitionResourceId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: reason
  }
}

// ---- Azure SQL logical server -------------------------------------------------------
resource sqlServer 'Microsoft.Sql/servers@2021-11-01' existing = if (isSqlServer) {
  name: resourceName
}

resource sqlServerRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isSqlServer) {
  name: guid(sqlServer.id, principalId, roleDefinitionResourceId)
  scope: sqlServer
  properties: {
    roleDefinitionId: roleDefinitionResourceId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: reason
  }
}

// ---- Cosmos DB account --------------------------------------------------------------
resource cosmosAccount 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = if (isCosmosAccount) {
  name: resourceName
}

resource cosmosAccountRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isCosmosAccount) {
  name: guid(cosmosAccount.id, principalId, roleDefinitionResourceId)
  scope: cosmosAccount
  properties: {
    roleDefinitionId: roleDefinitionResourceId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: reason
  }
}

// ---- PostgreSQL flexible server -----------------------------------------------------
resource postgresServer 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' existing = if (isPostgresServer) {
  name: resourceName
}

resource postgresServerRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isPostgresServer) {
  name: guid(postgresServer.id, principalId, roleDefinitionResourceId)
  scope: postgresServer
  properties: {
    roleDefinitionId: roleDefinitionResourceId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: reason
  }
}

// ---- Event Grid custom topic --------------------------------------------------------
resource eventGridTopic 'Microsoft.EventGrid/topics@2025-02-15' existing = if (isEventGridTopic) {
  name: resourceName
}

resource eventGridTopicRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isEventGridTopic) {
  name: guid(eventGridTopic.id, principalId, roleDefinitionResourceId)
  scope: eventGridTopic
  properties: {
    roleDefinitionId: roleDefinitionResourceId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: reason
  }
}

// ---- Application Insights -----------------------------------------------------------
resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = if (isAppInsights) {
  name: resourceName
}

resource appInsightsRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isAppInsights) {
  name: guid(appInsights.id, principalId, roleDefinitionResourceId)
  scope: appInsights
  properties: {
    roleDefinitionId: roleDefinitionResourceId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: reason
  }
}

// ---- Communication Services (e-mail) ------------------------------------------------
resource communicationService 'Microsoft.Communication/communicationServices@2023-04-01' existing = if (isCommunicationService) {
  name: resourceName
}

resource communicationServiceRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isCommunicationService) {
  name: guid(communicationService.id, principalId, roleDefinitionResourceId)
  scope: communicationService
  properties: {
    roleDefinitionId: roleDefinitionResourceId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: reason
  }
}

// ---- App Service / Function app (a consumer) ----------------------------------------
resource site 'Microsoft.Web/sites@2024-04-01' existing = if (isSite) {
  name: resourceName
}

resource siteRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isSite) {
  name: guid(site.id, principalId, roleDefinitionResourceId)
  scope: site
  properties: {
    roleDefinitionId: roleDefinitionResourceId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: reason
  }
}

// ---- Container App (a consumer) -----------------------------------------------------
resource containerApp 'Microsoft.App/containerApps@2025-01-01' existing = if (isContainerApp) {
  name: resourceName
}

resource containerAppRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isContainerApp) {
  name: guid(containerApp.id, principalId, roleDefinitionResourceId)
  scope: containerApp
  properties: {
    roleDefinitionId: roleDefinitionResourceId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: reason
  }
}

// ---- Azure AI services account (cognitive-services-key) ------------------------------
resource cognitiveAccount 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = if (isCognitiveAccount) {
  name: resourceName
}

resource cognitiveAccountRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isCognitiveAccount) {
  name: guid(cognitiveAccount.id, principalId, roleDefinitionResourceId)
  scope: cognitiveAccount
  properties: {
    roleDefinitionId: roleDefinitionResourceId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: reason
  }
}

// ---- Service Bus namespace (service-bus-key) -----------------------------------------
resource serviceBusNamespace 'Microsoft.ServiceBus/namespaces@2021-11-01' existing = if (isServiceBusNamespace) {
  name: resourceName
}

resource serviceBusNamespaceRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isServiceBusNamespace) {
  name: guid(serviceBusNamespace.id, principalId, roleDefinitionResourceId)
  scope: serviceBusNamespace
  properties: {
    roleDefinitionId: roleDefinitionResourceId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: reason
  }
}

// ---- Event Hubs namespace (event-hubs-key) -------------------------------------------
resource eventHubsNamespace 'Microsoft.EventHub/namespaces@2024-01-01' existing = if (isEventHubsNamespace) {
  name: resourceName
}

resource eventHubsNamespaceRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isEventHubsNamespace) {
  name: guid(eventHubsNamespace.id, principalId, roleDefinitionResourceId)
  scope: eventHubsNamespace
  properties: {
    roleDefinitionId: roleDefinitionResourceId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: reason
  }
}

// ---- Azure Cache for Redis (redis-cache-key) -----------------------------------------
resource redisCache 'Microsoft.Cache/redis@2024-11-01' existing = if (isRedisCache) {
  name: resourceName
}

resource redisCacheRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isRedisCache) {
  name: guid(redisCache.id, principalId, roleDefinitionResourceId)
  scope: redisCache
  properties: {
    roleDefinitionId: roleDefinitionResourceId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: reason
  }
}

// ---- AI Search service (search-admin-key) --------------------------------------------
resource searchService 'Microsoft.Search/searchServices@2025-05-01' existing = if (isSearchService) {
  name: resourceName
}

resource searchServiceRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isSearchService) {
  name: guid(searchService.id, principalId, roleDefinitionResourceId)
  scope: searchService
  properties: {
    roleDefinitionId: roleDefinitionResourceId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: reason
  }
}

// ---- App Configuration store (app-configuration-key) ---------------------------------
resource appConfigurationStore 'Microsoft.AppConfiguration/configurationStores@2024-06-01' existing = if (isAppConfigurationStore) {
  name: resourceName
}

resource appConfigurationStoreRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isAppConfigurationStore) {
  name: guid(appConfigurationStore.id, principalId, roleDefinitionResourceId)
  scope: appConfigurationStore
  properties: {
    roleDefinitionId: roleDefinitionResourceId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: reason
  }
}

// ---- Event Grid domain (event-grid-key) ----------------------------------------------
resource eventGridDomain 'Microsoft.EventGrid/domains@2025-02-15' existing = if (isEventGridDomain) {
  name: resourceName
}

resource eventGridDomainRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isEventGridDomain) {
  name: guid(eventGridDomain.id, principalId, roleDefinitionResourceId)
  scope: eventGridDomain
  properties: {
    roleDefinitionId: roleDefinitionResourceId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: reason
  }
}

// ---- Container Registry (container-registry-token) -----------------------------------
resource containerRegistry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = if (isContainerRegistry) {
  name: resourceName
}

resource containerRegistryRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isContainerRegistry) {
  name: guid(containerRegistry.id, principalId, roleDefinitionResourceId)
  scope: containerRegistry
  properties: {
    roleDefinitionId: roleDefinitionResourceId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: reason
  }
}

// No outputs: the assignment is identified by its deterministic name,
// guid(scope resource ID, principal ID, role definition ID).
