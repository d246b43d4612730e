metadata name = 'keyturn'
metadata description = 'Deploys keyturn, the serverless secret-rotation orchestrator: a Flex Consumption function app with its own identity, storage and telemetry, Event Grid subscriptions on each vault, a notification topic, and least-privilege role assignments on exactly the resources it rotates.'

targetScope = 'subscription'

import { builtInRoleIds, vaultType, targetResourceType, parseVaults, parseTargets, parseResourceIds } from 'modules/types.bicep'

// ---------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------

@description('Required. Name of the environment (azd: AZURE_ENV_NAME). Seeds resource names.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Required. Region of the keyturn resources: one that offers Flex Consumption (the list of the Flex Consumption azd quickstart; `az functionapp list-flexconsumption-locations` has the current one). Vaults and targets stay where they are.')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Optional. Resource group for the keyturn resources. Default: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Optional. Vaults keyturn watches and rotates in, as objects (for a parameters file of your own). Each must use the Azure RBAC permission model. With azd, use vaultList.')
param vaults vaultType[] = []

@description('Optional. Vaults as azd sets them (KEYTURN_VAULT_LIST): comma-separated `[<subscription id>/]<resource group>/<vault name>[+certificates][+keys]`. Checked by the preprovision hook (infra/hooks/check-env.mjs). Together with `vaults`, at least one vault.')
param vaultList string = ''

@description('Optional. Storage accounts whose access keys keyturn rotates (storage-account-key rotator).')
param storageAccountTargets targetResourceType[] = []

@description('Optional. Azure SQL logical servers whose administrator password keyturn rotates.')
param sqlServerTargets targetResourceType[] = []

@description('Optional. Cosmos DB accounts whose keys keyturn rotates.')
param cosmosAccountTargets targetResourceType[] = []

@description('Optional. PostgreSQL flexible servers whose administrator password keyturn rotates.')
param postgresServerTargets targetResourceType[] = []

@description('Optional. Azure AI services accounts whose keys keyturn rotates (cognitive-services-key rotator).')
param cognitiveAccountTargets targetResourceType[] = []

@description('Optional. Service Bus namespaces whose authorization-rule keys keyturn rotates (service-bus-key rotator).')
param serviceBusNamespaceTargets targetResourceType[] = []

@description('Optional. Event Hubs namespaces whose authorization-rule keys keyturn rotates (event-hubs-key rotator).')
param eventHubsNamespaceTargets targetResourceType[] = []

@description('Optional. Azure Cache for Redis caches whose keys keyturn rotates (redis-cache-key rotator).')
param redisCacheTargets targetResourceType[] = []

@description('Optional. AI Search services whose keys keyturn rotates (search-admin-key rotator).')
param searchServiceTargets targetResourceType[] = []

@description('Optional. App Configuration stores whose keys keyturn rotates (app-configuration-key rotator).')
param appConfigurationStoreTargets targetResourceType[] = []

@description('Optional. Event Grid custom topics whose keys keyturn rotates (event-grid-key rotator).')
param eventGridTopicTargets targetResourceType[] = []

@description('Optional. Event Grid domains whose keys keyturn rotates (event-grid-key rotator).')
param eventGridDomainTargets targetResourceType[] = []

@description('Optional. Container registries whose token passwords keyturn rotates (container-registry-token rotator; the role goes on the registry).')
param containerRegistryTargets targetResourceType[] = []

@description('Optional. App Service / Function apps named in secrets\' Consumers tags: keyturn refreshes their Key Vault references after a rotation (custom role keyturn Consumer Refresh).')
param consumerAppTargets targetResourceType[] = []

@description('Optional. Container Apps named in secrets\' Consumers tags: keyturn restarts their active revision after a rotation (custom role keyturn Consumer Refresh).')
param consumerContainerAppTargets targetResourceType[] = []

@description('Optional. Consumers as azd sets them (KEYTURN_CONSUMERS): comma-separated full resource IDs of App Service / Function apps (Microsoft.Web/sites) and Container Apps (Microsoft.App/containerApps), as Consumers tags hold them; each gets the keyturn Consumer Refresh role (consumerKinds). Checked by the preprovision hook.')
param consumerIdList string = ''

@description('Optional. Targets of any kind as azd sets them (KEYTURN_TARGETS): comma-separated full resource IDs, as ProviderAddress tags hold them; each gets the role of the kind that rotates its resource type (targetKinds). Checked by the preprovision hook.')
param targetIdList string = ''

@description('Optional. Storage accounts as azd sets them (KEYTURN_STORAGE_TARGETS): comma-separated `[<subscription id>/]<resource group>/<name>`.')
param storageTargetList string = ''

@description('Optional. Azure SQL servers as azd sets them (KEYTURN_SQL_TARGETS), in the same form.')
param sqlTargetList string = ''

@description('Optional. Cosmos DB accounts as azd sets them (KEYTURN_COSMOS_TARGETS), in the same form.')
param cosmosTargetList string = ''

@description('Optional. PostgreSQL flexible servers as azd sets them (KEYTURN_POSTGRES_TARGETS), in the same form.')
param postgresTargetList string = ''

@description('Optional. Create the Event Grid subscriptions. Event Grid validates an Azure Function endpoint on creation, so the very first provision (before any code is deployed) runs with false; the azd postdeploy hook sets it to true and provisions again.')
param subscribeToVaultEvents bool = false

@description('Optional. Name of the function that handles Key Vault events (its Event Grid trigger).')
param eventFunctionName string = 'keyVaultEvents'

@description('Optional. Event Grid delivery attempts before an event is dead-lettered.')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Optional. Minutes Event Grid keeps retrying an event before dead-lettering it.')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

@description('Optional. Microsoft Graph endpoint (entra-app-secret rotator). Change it only in a sovereign cloud, e.g. https://graph.microsoft.us.')
param graphEndpoint string = 'https://graph.microsoft.com'

@description('Optional. Minutes during which a fresh secret version is not rotated again.')
@minValue(0)
param rotationGuardMinutes int = 60

@description('Optional. keyturn log level.')
@allowed([
  'debug'
  'info'
  'warn'
  'error'
])
param logLevel string = 'info'

@description('Optional. Maximum instances of the function app.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Optional. How the HTTP API is protected. entra (default): App Service Authentication with Microsoft Entra in front of the API, app roles Rotation.Operator / Rotation.Reader required, and the caller named in logs, journals and notifications; the deployment creates the app registration unless apiAuthClientId names one. function-keys: the opt-out for teams that must stay on function keys alone (no caller is recorded; see docs/access-model.md).')
@allowed([
  'entra'
  'function-keys'
])
param apiAuthentication string = 'entra'

@description('Optional. Client ID of an existing Entra app registration (with app roles Rotation.Operator and Rotation.Reader) to use instead of the one the deployment creates. Only with apiAuthentication entra.')
param apiAuthClientId string = ''

@description('Required. E-mail address of the on-call team: the action group of every keyturn alert (a rotation failed, the sweep is overdue, Key Vault events dead-lettered or undelivered). azd: KEYTURN_ONCALL_EMAIL.')
@minLength(3)
@maxLength(254)
param onCallEmail string

@description('Optional. Also deploy Communication Services with an Email Communication Service and an Azure-managed domain.')
param deployEmail bool = false

@description('Optional. Where Communication Services stores data at rest (used when deployEmail is true).')
param emailDataLocation string = 'Europe'

@description('Optional. Versionless Key Vault secret URI (https://<vault>.vault.azure.net/secrets/<name>) whose value is the notification webhook URL. The app reads it as a Key Vault reference; keyturn\'s identity must be able to read that secret (a vault in `vaults` qualifies). Empty: no webhook.')
param notifyWebhookSecretUri string = ''

@description('Optional. Tags for every resource keyturn creates.')
param tags object = {}

// ---------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var effectiveResourceGroupName = empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
var allTags = union(tags, { 'azd-env-name': environmentName, application: 'keyturn' })
var storageAccountName = 'stkt${resourceToken}'
var functionAppName = 'func-keyturn-${resourceToken}'
var appInsightsName = 'appi-keyturn-${resourceToken}'
var communicationServiceName = 'acs-keyturn-${resourceToken}'
var notifyTopicName = 'evgt-keyturn-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'
// The engine takes its rotation locks (blob leases) in this container (KEYTURN_LOCK_CONTAINER).
var lockContainerName = 'keyturn-locks'
var deadLetterContainerName = 'deadletter'
var thisSubscriptionId = subscription().subscriptionId

// The event types keyturn handles; must equal HandledEventTypes in core/events.ts
// (test/infra/infra.test.ts compares them).
var handledEventTypes = [
  'Microsoft.KeyVault.SecretNearExpiry'
  'Microsoft.KeyVault.SecretExpired'
  'Microsoft.KeyVault.CertificateNearExpiry'
  'Microsoft.KeyVault.KeyNearExpiry'
]

// The vaults and targets: objects given as such, and those azd gives as lists.
var allVaults = concat(vaults, parseVaults(vaultList))
var allStorageAccountTargets = concat(storageAccountTargets, parseTargets(storageTargetList))
var allSqlServerTargets = concat(sqlServerTargets, parseTargets(sqlTargetList))
var allCosmosAccountTargets = concat(cosmosAccountTargets, parseTargets(cosmosTargetList))
var allPostgresServerTargets = concat(postgresServerTargets, parseTargets(postgresTargetList))

// KEYTURN_VAULTS: the allow-list is exactly the vaults this deployment grants roles on.
var vaultUrls = join(map(allVaults, v => 'https://${v.name}${environment().suffixes.keyvaultDns}'), ',')
// KEYTURN_VAULT_RESOURCE_IDS: the same vaults as ARM resources, for the posture audit.
var vaultResourceIds = join(map(allVaults, v => '/subscriptions/${v.?subscriptionId ?? thisSubscriptionId}/resourceGroups/${v.resourceGroup}/providers/Microsoft.KeyVault/vaults/${v.name}'), ',')
var resourceManager = environment().resourceManager
var armEndpoint = endsWith(resourceManager, '/') ? substring(resourceManager, 0, length(resourceManager) - 1) : resourceManager
var loginEndpoint = environment().authentication.loginEndpoint
var authorityHost = endsWith(loginEndpoint, '/') ? substring(loginEndpoint, 0, length(loginEndpoint) - 1) : loginEndpoint

// ---------------------------------------------------------------------------------------
// keyturn's custom roles: exactly the operations the code declares it calls
// (core/access.ts, rotators/<kind>/access.ts), generated into roles.json by
// `npm run roles`. Each definition's GUID is derived from its key, so the role list
// below names it before it exists; assignable wherever a vault or target lives.
// ---------------------------------------------------------------------------------------

var keyturnRoles = loadJsonContent('roles.json').roles
var customRoleIds = toObject(items(keyturnRoles), r => r.key, r => guid(subscription().id, 'keyturn', environmentName, r.key))
var idTargets = parseResourceIds(targetIdList)
var idConsumers = parseResourceIds(consumerIdList)
var allTargets = concat(idTargets, allStorageAccountTargets, allSqlServerTargets, allCosmosAccountTargets, allPostgresServerTargets, cognitiveAccountTargets, serviceBusNamespaceTargets, eventHubsNamespaceTargets, redisCacheTargets, searchServiceTargets, appConfigurationStoreTargets, eventGridTopicTargets, eventGridDomainTargets, containerRegistryTargets)
var allConsumers = concat(consumerAppTargets, consumerContainerAppTargets, idConsumers)
var roleSubscriptions = union([thisSubscriptionId], map(allVaults, v => v.?subscriptionId ?? thisSubscriptionId), map(allTargets, t => t.?subscriptionId ?? thisSubscriptionId), map(allConsumers, t => t.?subscriptionId ?? thisSubscriptionId))

// ---------------------------------------------------------------------------------------
// The one role list: (principal, scope resource, role). Every assignment keyturn makes is
// an entry here, scoped to one resource; role-assignments.bicep deploys them all.
// ---------------------------------------------------------------------------------------

// Read each secret and its tags, write the new version and the journal; read the vault's settings (audit).
var vaultSecretRoles = map(allVaults, v => {
  principal: 'keyturn'
  roleDefinitionId: customRoleIds['vault-secrets']
  scope: {
    resourceType: 'Microsoft.KeyVault/vaults'
    subscriptionId: v.?subscriptionId ?? thisSubscriptionId
    resourceGroup: v.resourceGroup
    name: v.name
  }
  reason: keyturnRoles['vault-secrets'].description
})

// Only where certificates are in scope: renew certificates (new versions from their policy).
var vaultCertificateRoles = map(filter(allVaults, v => v.?certificates ?? false), v => {
  principal: 'keyturn'
  roleDefinitionId: customRoleIds['vault-certificates']
  scope: {
    resourceType: 'Microsoft.KeyVault/vaults'
    subscriptionId: v.?subscriptionId ?? thisSubscriptionId
    resourceGroup: v.resourceGroup
    name: v.name
  }
  reason: keyturnRoles['vault-certificates'].description
})

// Only where keys are in scope: rotate keys and their rotation policy, no crypto operation.
var vaultKeyRoles = map(filter(allVaults, v => v.?keys ?? false), v => {
  principal: 'keyturn'
  roleDefinitionId: customRoleIds['vault-keys']
  scope: {
    resourceType: 'Microsoft.KeyVault/vaults'
    subscriptionId: v.?subscriptionId ?? thisSubscriptionId
    resourceGroup: v.resourceGroup
    name: v.name
  }
  reason: keyturnRoles['vault-keys'].description
})

// Each rotator kind's role on each target of its type: (targets, their resource type, the
// kind, its role). The resource type is one the role is assigned on (roles.json assignedOn).
var targetKinds = [
  { targets: allStorageAccountTargets, resourceType: 'Microsoft.Storage/storageAccounts', kind: 'storage-account-key', role: keyturnRoles['storage-account-key'] }
  { targets: allSqlServerTargets, resourceType: 'Microsoft.Sql/servers', kind: 'sql-server-admin', role: keyturnRoles['sql-server-admin'] }
  { targets: allCosmosAccountTargets, resourceType: 'Microsoft.DocumentDB/databaseAccounts', kind: 'cosmos-db-key', role: keyturnRoles['cosmos-db-key'] }
  { targets: allPostgresServerTargets, resourceType: 'Microsoft.DBforPostgreSQL/flexibleServers', kind: 'postgres-flexible-admin', role: keyturnRoles['postgres-flexible-admin'] }
  // The ARM access-key family: one custom role per kind, derived from its descriptor (actionsOf).
  { targets: cognitiveAccountTargets, resourceType: 'Microsoft.CognitiveServices/accounts', kind: 'cognitive-services-key', role: keyturnRoles['cognitive-services-key'] }
  { targets: serviceBusNamespaceTargets, resourceType: 'Microsoft.ServiceBus/namespaces', kind: 'service-bus-key', role: keyturnRoles['service-bus-key'] }
  { targets: eventHubsNamespaceTargets, resourceType: 'Microsoft.EventHub/namespaces', kind: 'event-hubs-key', role: keyturnRoles['event-hubs-key'] }
  { targets: redisCacheTargets, resourceType: 'Microsoft.Cache/redis', kind: 'redis-cache-key', role: keyturnRoles['redis-cache-key'] }
  { targets: searchServiceTargets, resourceType: 'Microsoft.Search/searchServices', kind: 'search-admin-key', role: keyturnRoles['search-admin-key'] }
  { targets: appConfigurationStoreTargets, resourceType: 'Microsoft.AppConfiguration/configurationStores', kind: 'app-configuration-key', role: keyturnRoles['app-configuration-key'] }
  { targets: eventGridTopicTargets, resourceType: 'Microsoft.EventGrid/topics', kind: 'event-grid-key', role: keyturnRoles['event-grid-key'] }
  { targets: eventGridDomainTargets, resourceType: 'Microsoft.EventGrid/domains', kind: 'event-grid-key', role: keyturnRoles['event-grid-key'] }
  { targets: containerRegistryTargets, resourceType: 'Microsoft.ContainerRegistry/registries', kind: 'container-registry-token', role: keyturnRoles['container-registry-token'] }
]
var targetRoles = flatten(map(targetKinds, k => map(concat(k.targets, filter(idTargets, t => toLower(t.type) == toLower(k.resourceType))), t => {
  principal: 'keyturn'
  roleDefinitionId: customRoleIds[k.kind]
  scope: {
    resourceType: k.resourceType
    subscriptionId: t.?subscriptionId ?? thisSubscriptionId
    resourceGroup: t.resourceGroup
    name: t.name
  }
  reason: k.role.description
})))

// Consumers: refresh and read Key Vault references (sites), restart and read revisions
// (container apps), nothing else: the consumers' custom role of roles.json, on each app
// given as a list of its type or in KEYTURN_CONSUMERS. The resource types are the role's
// assignedOn (test/infra/roles.test.ts compares them).
var consumerKinds = [
  { targets: consumerAppTargets, resourceType: 'Microsoft.Web/sites' }
  { targets: consumerContainerAppTargets, resourceType: 'Microsoft.App/containerApps' }
]
var consumerRoles = flatten(map(consumerKinds, k => map(concat(k.targets, filter(idConsumers, t => toLower(t.type) == toLower(k.resourceType))), t => {
  principal: 'keyturn'
  roleDefinitionId: customRoleIds['consumers']
  scope: {
    resourceType: k.resourceType
    subscriptionId: t.?subscriptionId ?? thisSubscriptionId
    resourceGroup: t.resourceGroup
    name: t.name
  }
  reason: keyturnRoles['consumers'].description
})))

// keyturn's own resources, in its own resource group.
var ownResourceRoles = [
  // Publish rotation outcomes (no secret values) to the notification topic.
  {
    principal: 'keyturn'
    roleDefinitionId: builtInRoleIds['EventGrid Data Sender']
    scope: {
      resourceType: 'Microsoft.EventGrid/topics'
      subscriptionId: thisSubscriptionId
      resourceGroup: effectiveResourceGroupName
      name: notifyTopicName
    }
    reason: 'keyturn: publish rotation notifications'
  }
  // Functions host storage (AzureWebJobsStorage through the identity), and the Flex
  // deployment container: the Functions documentation requires Storage Blob Data Owner on
  // the account (read/write blobs, create containers). The account holds nothing but
  // keyturn's own blobs.
  {
    principal: 'keyturn'
    roleDefinitionId: builtInRoleIds['Storage Blob Data Owner']
    scope: {
      resourceType: 'Microsoft.Storage/storageAccounts'
      subscriptionId: thisSubscriptionId
      resourceGroup: effectiveResourceGroupName
      name: storageAccountName
    }
    reason: 'keyturn: Functions host storage and deployment package (identity-based AzureWebJobsStorage)'
  }
  // The engine's rotation locks (blob leases). Stated on its own, at the narrowest role that
  // can lease and write blobs, so the engine's need does not hang on the host's: today the
  // account-level assignment above covers it too.
  {
    principal: 'keyturn'
    roleDefinitionId: builtInRoleIds['Storage Blob Data Contributor']
    scope: {
      resourceType: 'Microsoft.Storage/storageAccounts/blobServices/containers'
      subscriptionId: thisSubscriptionId
      resourceGroup: effectiveResourceGroupName
      name: '${storageAccountName}/${lockContainerName}'
    }
    reason: 'keyturn: rotation locks (blob leases)'
  }
  // Telemetry with an Entra token (the component has local auth disabled).
  {
    principal: 'keyturn'
    roleDefinitionId: builtInRoleIds['Monitoring Metrics Publisher']
    scope: {
      resourceType: 'Microsoft.Insights/components'
      subscriptionId: thisSubscriptionId
      resourceGroup: effectiveResourceGroupName
      name: appInsightsName
    }
    reason: 'keyturn: send telemetry with Entra ID authentication'
  }
  // Event Grid writes undeliverable Key Vault events here, with its own identity.
  {
    principal: 'eventGridDeadLetter'
    roleDefinitionId: builtInRoleIds['Storage Blob Data Contributor']
    scope: {
      resourceType: 'Microsoft.Storage/storageAccounts/blobServices/containers'
      subscriptionId: thisSubscriptionId
      resourceGroup: effectiveResourceGroupName
      name: '${storageAccountName}/${deadLetterContainerName}'
    }
    reason: 'Event Grid system topics: write dead-lettered Key Vault events'
  }
]

// E-mail notifications with keyturn's Entra identity (deployEmail only). Communication
// Services has no narrower built-in role that can send; scoped to keyturn's own resource.
var emailRoles = deployEmail ? [
  {
    principal: 'keyturn'
    roleDefinitionId: builtInRoleIds['Communication and Email Service Owner']
    scope: {
      resourceType: 'Microsoft.Communication/communicationServices'
      subscriptionId: thisSubscriptionId
      resourceGroup: effectiveResourceGroupName
      name: communicationServiceName
    }
    reason: 'keyturn: send notification e-mail with its Entra identity'
  }
] : []

// THE list.
var roleAssignments = concat(vaultSecretRoles, vaultCertificateRoles, vaultKeyRoles, targetRoles, consumerRoles, ownResourceRoles, emailRoles)

// ---------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: effectiveResourceGroupName
  location: location
  tags: allTags
}

resource customRoles 'Microsoft.Authorization/roleDefinitions@2022-04-01' = [
  for r in items(keyturnRoles): {
    name: customRoleIds[r.key]
    properties: {
      // Role names are unique in the tenant: one set per azd environment.
      roleName: '${r.value.roleName} (${environmentName})'
      description: r.value.description
      type: 'CustomRole'
      permissions: [
        {
          actions: r.value.actions
          notActions: []
          dataActions: r.value.dataActions
          notDataActions: []
        }
      ]
      assignableScopes: map(roleSubscriptions, id => '/subscriptions/${id}')
    }
  }
]

module keyturnIdentity 'modules/identity.bicep' = {
  name: 'keyturn-identity'
  scope: rg
  params: {
    name: 'id-keyturn-${resourceToken}'
    location: location
    tags: allTags
  }
}

module deadLetterIdentity 'modules/identity.bicep' = {
  name: 'keyturn-eventgrid-identity'
  scope: rg
  params: {
    name: 'id-keyturn-eventgrid-${resourceToken}'
    location: location
    tags: allTags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'keyturn-storage'
  scope: rg
  params: {
    name: storageAccountName
    location: location
    tags: allTags
    deploymentContainerName: deploymentContainerName
    lockContainerName: lockContainerName
    deadLetterContainerName: deadLetterContainerName
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'keyturn-monitoring'
  scope: rg
  params: {
    workspaceName: 'log-keyturn-${resourceToken}'
    appInsightsName: appInsightsName
    location: location
    tags: allTags
  }
}

module notifyTopic 'modules/notification-topic.bicep' = {
  name: 'keyturn-notify-topic'
  scope: rg
  params: {
    name: notifyTopicName
    location: location
    tags: allTags
  }
}

module email 'modules/email.bicep' = if (deployEmail) {
  name: 'keyturn-email'
  scope: rg
  params: {
    communicationServiceName: communicationServiceName
    emailServiceName: 'ecs-keyturn-${resourceToken}'
    dataLocation: emailDataLocation
    tags: allTags
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'keyturn-alerts'
  scope: rg
  params: {
    actionGroupName: 'ag-keyturn-${resourceToken}'
    onCallEmail: onCallEmail
    appInsightsName: monitoring.outputs.appInsightsName
    location: location
    tags: allTags
  }
}

// The API's app registration, unless the team brings its own or stays on function keys.
module apiApp 'modules/api-app.bicep' = if (apiAuthentication == 'entra' && empty(apiAuthClientId)) {
  name: 'keyturn-api-app'
  scope: rg
  params: {
    uniqueName: 'keyturn-api-${resourceToken}'
    displayName: 'keyturn API (${environmentName})'
  }
}

var effectiveApiClientId = apiAuthentication == 'entra' ? (empty(apiAuthClientId) ? apiApp.outputs.clientId : apiAuthClientId) : ''

module roles 'modules/role-assignments.bicep' = {
  name: 'keyturn-role-assignments'
  scope: rg
  params: {
    assignments: roleAssignments
    principalIds: {
      keyturn: keyturnIdentity.outputs.principalId
      eventGridDeadLetter: deadLetterIdentity.outputs.principalId
    }
  }
  // The scopes inside this resource group, and the custom roles, must exist before roles are assigned.
  dependsOn: [
    customRoles
    storage
    monitoring
    notifyTopic
    email
  ]
}

module functionApp 'modules/function-app.bicep' = {
  name: 'keyturn-function-app'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-keyturn-${resourceToken}'
    location: location
    tags: allTags
    serviceName: 'keyturn'
    identityResourceId: keyturnIdentity.outputs.resourceId
    identityClientId: keyturnIdentity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    lockContainerName: storage.outputs.lockContainerName
    appInsightsName: monitoring.outputs.appInsightsName
    vaultUrls: vaultUrls
    vaultResourceIds: vaultResourceIds
    notifyTopicEndpoint: notifyTopic.outputs.endpoint
    armEndpoint: armEndpoint
    graphEndpoint: graphEndpoint
    authorityHost: authorityHost
    rotationGuardMinutes: rotationGuardMinutes
    logLevel: logLevel
    maximumInstanceCount: maximumInstanceCount
    apiAuthClientId: effectiveApiClientId
    emailEndpoint: deployEmail ? email.outputs.endpoint : ''
    emailSender: deployEmail ? email.outputs.senderAddress : ''
    notifyWebhookSecretUri: notifyWebhookSecretUri
  }
  // Start the host only once its identity can reach its storage and telemetry.
  dependsOn: [
    roles
  ]
}

module vaultEvents 'modules/vault-events.bicep' = [
  for v in allVaults: {
    name: take('keyturn-events-${v.name}', 64)
    scope: resourceGroup(v.?subscriptionId ?? thisSubscriptionId, v.resourceGroup)
    params: {
      vaultName: v.name
      systemTopicName: v.?systemTopicName ?? 'evgst-${v.name}'
      tags: allTags
      includedEventTypes: handledEventTypes
      deploySubscription: subscribeToVaultEvents
      functionResourceId: '${functionApp.outputs.resourceId}/functions/${eventFunctionName}'
      deadLetterIdentityResourceId: deadLetterIdentity.outputs.resourceId
      deadLetterStorageAccountResourceId: storage.outputs.resourceId
      deadLetterContainerName: storage.outputs.deadLetterContainerName
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
      actionGroupId: alerts.outputs.actionGroupId
    }
    // The dead-letter identity's role on the container is assigned first.
    dependsOn: [
      roles
    ]
  }
]

// ---------------------------------------------------------------------------------------
// Outputs (azd stores them in the environment). None carries a secret.
// ---------------------------------------------------------------------------------------

@description('Region of the keyturn resources.')
output AZURE_LOCATION string = location

@description('Tenant of the deployment.')
output AZURE_TENANT_ID string = tenant().tenantId

@description('Resource group of the keyturn resources.')
output AZURE_RESOURCE_GROUP string = rg.name

@description('Name of the function app.')
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name

@description('Client ID of keyturn\'s identity (AZURE_CLIENT_ID in the app).')
output KEYTURN_IDENTITY_CLIENT_ID string = keyturnIdentity.outputs.clientId

@description('Object ID of keyturn\'s identity (the principal of every keyturn role assignment).')
output KEYTURN_IDENTITY_PRINCIPAL_ID string = keyturnIdentity.outputs.principalId

@description('Vault allow-list set on the app.')
output KEYTURN_VAULTS string = vaultUrls

@description('Notification topic endpoint set on the app.')
output KEYTURN_NOTIFY_TOPIC_ENDPOINT string = notifyTopic.outputs.endpoint

@description('Whether the Event Grid subscriptions were deployed by this run.')
output KEYTURN_SUBSCRIBE_EVENTS bool = subscribeToVaultEvents

@description('Number of role assignments keyturn\'s deployment made.')
output KEYTURN_ROLE_ASSIGNMENT_COUNT int = roles.outputs.count

// Not named KEYTURN_API_CLIENT_ID: azd would feed it back as apiAuthClientId and the
// deployment would stop managing the registration it created.
@description('Client ID of the app registration that protects the HTTP API (empty with apiAuthentication function-keys).')
output KEYTURN_API_APP_ID string = effectiveApiClientId

@description('Token scope for `keyturn --via` against this deployment (KEYTURN_VIA_SCOPE); empty with function keys alone.')
output KEYTURN_VIA_SCOPE string = empty(effectiveApiClientId) ? '' : '${effectiveApiClientId}/.default'

@description('Communication Services endpoint (empty unless deployEmail).')
output KEYTURN_EMAIL_ENDPOINT string = deployEmail ? email.outputs.endpoint : ''

@description('Sender address on the Azure-managed domain (empty unless deployEmail).')
output KEYTURN_EMAIL_SENDER string = deployEmail ? email.outputs.senderAddress : ''
