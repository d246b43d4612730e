metadata name = 'keyturn'
metadata description = 'Deploys keyturn, the serverless secret-rotation orchestrator: a Flex Consumption function app with its own identity, storage and telemetry, Event Grid subscriptions on each vault, a notification topic, and least-privilege role assignments on exactly the resources it rotates.'

targetScope = 'subscription'

import { builtInRoleIds, vaultType, targetResourceType } from 'modules/types.bicep'

// ---------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------

@description('Required. Name of the environment (azd: AZURE_ENV_NAME). Seeds resource names.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Required. Region of the keyturn resources. Vaults and targets stay where they are.')
@minLength(1)
param location string

@description('Optional. Resource group for the keyturn resources. Default: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Required. Vaults keyturn watches and rotates in. Each must use the Azure RBAC permission model.')
@minLength(1)
param vaults vaultType[]

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

@description('Optional. GUID of a custom role to use on PostgreSQL flexible servers instead of the built-in Contributor (see docs/access-model.md for the actions it needs). Empty: Contributor, scoped to each server.')
param postgresRoleDefinitionId string = ''

@description('Optional. App Service / Function apps named in secrets\' Consumers tags: keyturn refreshes their Key Vault references after a rotation (custom role keyturn Consumer Refresh).')
param consumerAppTargets targetResourceType[] = []

@description('Optional. Container Apps named in secrets\' Consumers tags: keyturn restarts their active revision after a rotation (custom role keyturn Consumer Refresh).')
param consumerContainerAppTargets targetResourceType[] = []

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

@description('Optional. Client ID of the Entra app registration (with app roles Rotation.Operator and Rotation.Reader) that protects the HTTP API through App Service Authentication. Empty: not configured.')
param apiAuthClientId string = ''

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

// KEYTURN_VAULTS: the allow-list is exactly the vaults this deployment grants roles on.
var vaultUrls = join(map(vaults, v => 'https://${v.name}${environment().suffixes.keyvaultDns}'), ',')
// KEYTURN_VAULT_RESOURCE_IDS: the same vaults as ARM resources, for the posture audit.
var vaultResourceIds = join(map(vaults, v => '/subscriptions/${subscription().subscriptionId}/resourceGroups/${v.resourceGroup}/providers/Microsoft.KeyVault/vaults/${v.name}'), ',')
var resourceManager = environment().resourceManager
var armEndpoint = endsWith(resourceManager, '/') ? substring(resourceManager, 0, length(resourceManager) - 1) : resourceManager
var loginEndpoint = environment().authentication.loginEndpoint
var authorityHost = endsWith(loginEndpoint, '/') ? substring(loginEndpoint, 0, length(loginEndpoint) - 1) : loginEndpoint

// ---------------------------------------------------------------------------------------
// The one role list: (principal, scope resource, role). Every assignment keyturn makes is
// an entry here, scoped to one resource; role-assignments.bicep deploys them all.
// ---------------------------------------------------------------------------------------

// The custom role for consumers (resource consumerRole below): its ID is deterministic,
// so the role list can name it before the definition is deployed.
var consumerRoleName = 'keyturn Consumer Refresh'
var consumerRoleId = guid(subscription().id, consumerRoleName)
var postgresRoleId = empty(postgresRoleDefinitionId) ? builtInRoleIds.Contributor : postgresRoleDefinitionId

// Read each secret and its tags, write the new version and the journal, clear the journal.
var vaultSecretRoles = map(vaults, v => {
  principal: 'keyturn'
  roleDefinitionId: builtInRoleIds['Key Vault Secrets Officer']
  scope: {
    resourceType: 'Microsoft.KeyVault/vaults'
    subscriptionId: v.?subscriptionId ?? thisSubscriptionId
    resourceGroup: v.resourceGroup
    name: v.name
  }
  reason: 'keyturn: read secrets and tags, write new secret versions and rotation journals'
})

// Only where certificates are in scope: renew certificates (new versions, policies).
var vaultCertificateRoles = map(filter(vaults, v => v.?certificates ?? false), v => {
  principal: 'keyturn'
  roleDefinitionId: builtInRoleIds['Key Vault Certificates Officer']
  scope: {
    resourceType: 'Microsoft.KeyVault/vaults'
    subscriptionId: v.?subscriptionId ?? thisSubscriptionId
    resourceGroup: v.resourceGroup
    name: v.name
  }
  reason: 'keyturn: renew certificates near expiry'
})

// Only where keys are in scope: rotate keys (new key versions).
var vaultKeyRoles = map(filter(vaults, v => v.?keys ?? false), v => {
  principal: 'keyturn'
  roleDefinitionId: builtInRoleIds['Key Vault Crypto Officer']
  scope: {
    resourceType: 'Microsoft.KeyVault/vaults'
    subscriptionId: v.?subscriptionId ?? thisSubscriptionId
    resourceGroup: v.resourceGroup
    name: v.name
  }
  reason: 'keyturn: rotate keys near expiry'
})

// listKeys + regenerateKey and nothing else: the storage-account-key rotator.
var storageKeyRoles = map(storageAccountTargets, t => {
  principal: 'keyturn'
  roleDefinitionId: builtInRoleIds['Storage Account Key Operator Service Role']
  scope: {
    resourceType: 'Microsoft.Storage/storageAccounts'
    subscriptionId: t.?subscriptionId ?? thisSubscriptionId
    resourceGroup: t.resourceGroup
    name: t.name
  }
  reason: 'keyturn: regenerate and list the account keys it rotates'
})

// PATCH administratorLoginPassword on the server. SQL Server Contributor excludes the
// server's auditing and security-policy settings, which plain Contributor would allow.
var sqlServerRoles = map(sqlServerTargets, t => {
  principal: 'keyturn'
  roleDefinitionId: builtInRoleIds['SQL Server Contributor']
  scope: {
    resourceType: 'Microsoft.Sql/servers'
    subscriptionId: t.?subscriptionId ?? thisSubscriptionId
    resourceGroup: t.resourceGroup
    name: t.name
  }
  reason: 'keyturn: set the server administrator password it rotates'
})

// Cosmos DB: the narrowest built-in role that can regenerate keys. Cosmos DB Operator
// lists databaseAccounts/regenerateKey/* and listKeys/* among its NotActions, so it cannot
// rotate; Cosmos DB Account Reader Role only reads read-only keys. DocumentDB Account
// Contributor (Microsoft.DocumentDb/databaseAccounts/*) is the narrowest that can.
var cosmosAccountRoles = map(cosmosAccountTargets, t => {
  principal: 'keyturn'
  roleDefinitionId: builtInRoleIds['DocumentDB Account Contributor']
  scope: {
    resourceType: 'Microsoft.DocumentDB/databaseAccounts'
    subscriptionId: t.?subscriptionId ?? thisSubscriptionId
    resourceGroup: t.resourceGroup
    name: t.name
  }
  reason: 'keyturn: regenerate and list the account keys it rotates'
})

// PostgreSQL flexible server: no built-in role narrower than Contributor carries
// Microsoft.DBforPostgreSQL/flexibleServers/write (the only PostgreSQL built-in role is for
// long-term-retention backup). Contributor is scoped to the one server; a custom role can
// replace it through postgresRoleDefinitionId.
var postgresServerRoles = map(postgresServerTargets, t => {
  principal: 'keyturn'
  roleDefinitionId: postgresRoleId
  scope: {
    resourceType: 'Microsoft.DBforPostgreSQL/flexibleServers'
    subscriptionId: t.?subscriptionId ?? thisSubscriptionId
    resourceGroup: t.resourceGroup
    name: t.name
  }
  reason: 'keyturn: set the server administrator password it rotates'
})

// Consumers: refresh and read Key Vault references (sites), restart and read revisions
// (container apps), nothing else: the custom role of modules/consumer-role.bicep.
var consumerRoles = concat(
  map(consumerAppTargets, t => {
    principal: 'keyturn'
    roleDefinitionId: consumerRoleId
    scope: {
      resourceType: 'Microsoft.Web/sites'
      subscriptionId: t.?subscriptionId ?? thisSubscriptionId
      resourceGroup: t.resourceGroup
      name: t.name
    }
    reason: 'keyturn: refresh the Key Vault references of an app that reads a rotated secret'
  }),
  map(consumerContainerAppTargets, t => {
    principal: 'keyturn'
    roleDefinitionId: consumerRoleId
    scope: {
      resourceType: 'Microsoft.App/containerApps'
      subscriptionId: t.?subscriptionId ?? thisSubscriptionId
      resourceGroup: t.resourceGroup
      name: t.name
    }
    reason: 'keyturn: restart the revision of a container app that reads a rotated secret'
  })
)

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

// The access-key family (docs/access-model.md#arm-access-key-kinds): the narrowest built-in
// role with the kind's list and regenerate actions, on the one resource. Service Bus, Event
// Hubs and Container Registry have no built-in role narrower than Contributor with them,
// and EventGrid Contributor's ID is not yet verified here, so Event Grid takes Contributor.
// A custom role with the descriptor's actions (actionsOf) is narrower still.
var cognitiveAccountRoles = map(cognitiveAccountTargets, t => {
  principal: 'keyturn'
  roleDefinitionId: builtInRoleIds['Cognitive Services Contributor']
  scope: {
    resourceType: 'Microsoft.CognitiveServices/accounts'
    subscriptionId: t.?subscriptionId ?? thisSubscriptionId
    resourceGroup: t.resourceGroup
    name: t.name
  }
  reason: 'keyturn: list and regenerate the account keys it rotates'
})

var serviceBusNamespaceRoles = map(serviceBusNamespaceTargets, t => {
  principal: 'keyturn'
  roleDefinitionId: builtInRoleIds['Contributor']
  scope: {
    resourceType: 'Microsoft.ServiceBus/namespaces'
    subscriptionId: t.?subscriptionId ?? thisSubscriptionId
    resourceGroup: t.resourceGroup
    name: t.name
  }
  reason: 'keyturn: list and regenerate the authorization-rule keys it rotates'
})

var eventHubsNamespaceRoles = map(eventHubsNamespaceTargets, t => {
  principal: 'keyturn'
  roleDefinitionId: builtInRoleIds['Contributor']
  scope: {
    resourceType: 'Microsoft.EventHub/namespaces'
    subscriptionId: t.?subscriptionId ?? thisSubscriptionId
    resourceGroup: t.resourceGroup
    name: t.name
  }
  reason: 'keyturn: list and regenerate the authorization-rule keys it rotates'
})

var redisCacheRoles = map(redisCacheTargets, t => {
  principal: 'keyturn'
  roleDefinitionId: builtInRoleIds['Redis Cache Contributor']
  scope: {
    resourceType: 'Microsoft.Cache/redis'
    subscriptionId: t.?subscriptionId ?? thisSubscriptionId
    resourceGroup: t.resourceGroup
    name: t.name
  }
  reason: 'keyturn: list and regenerate the access keys it rotates'
})

var searchServiceRoles = map(searchServiceTargets, t => {
  principal: 'keyturn'
  roleDefinitionId: builtInRoleIds['Search Service Contributor']
  scope: {
    resourceType: 'Microsoft.Search/searchServices'
    subscriptionId: t.?subscriptionId ?? thisSubscriptionId
    resourceGroup: t.resourceGroup
    name: t.name
  }
  reason: 'keyturn: list and regenerate the admin keys it rotates'
})

var appConfigurationStoreRoles = map(appConfigurationStoreTargets, t => {
  principal: 'keyturn'
  roleDefinitionId: builtInRoleIds['App Configuration Contributor']
  scope: {
    resourceType: 'Microsoft.AppConfiguration/configurationStores'
    subscriptionId: t.?subscriptionId ?? thisSubscriptionId
    resourceGroup: t.resourceGroup
    name: t.name
  }
  reason: 'keyturn: list and regenerate the access keys it rotates'
})

var eventGridTopicKeyRoles = map(eventGridTopicTargets, t => {
  principal: 'keyturn'
  roleDefinitionId: builtInRoleIds['Contributor']
  scope: {
    resourceType: 'Microsoft.EventGrid/topics'
    subscriptionId: t.?subscriptionId ?? thisSubscriptionId
    resourceGroup: t.resourceGroup
    name: t.name
  }
  reason: 'keyturn: list and regenerate the access keys it rotates'
})

var eventGridDomainRoles = map(eventGridDomainTargets, t => {
  principal: 'keyturn'
  roleDefinitionId: builtInRoleIds['Contributor']
  scope: {
    resourceType: 'Microsoft.EventGrid/domains'
    subscriptionId: t.?subscriptionId ?? thisSubscriptionId
    resourceGroup: t.resourceGroup
    name: t.name
  }
  reason: 'keyturn: list and regenerate the access keys it rotates'
})

var containerRegistryRoles = map(containerRegistryTargets, t => {
  principal: 'keyturn'
  roleDefinitionId: builtInRoleIds['Contributor']
  scope: {
    resourceType: 'Microsoft.ContainerRegistry/registries'
    subscriptionId: t.?subscriptionId ?? thisSubscriptionId
    resourceGroup: t.resourceGroup
    name: t.name
  }
  reason: 'keyturn: read its tokens and generate the token passwords it rotates'
})

// THE list.
var roleAssignments = concat(vaultSecretRoles, vaultCertificateRoles, vaultKeyRoles, storageKeyRoles, sqlServerRoles, cosmosAccountRoles, postgresServerRoles, consumerRoles, ownResourceRoles, emailRoles, cognitiveAccountRoles, serviceBusNamespaceRoles, eventHubsNamespaceRoles, redisCacheRoles, searchServiceRoles, appConfigurationStoreRoles, eventGridTopicKeyRoles, eventGridDomainRoles, containerRegistryRoles)

// ---------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: effectiveResourceGroupName
  location: location
  tags: allTags
}

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

// A custom role with only the ARM actions keyturn needs on consumers. The actions are
// core/consumers.ts's CONSUMER_ROLE_ACTIONS, kept in consumer-role-actions.json so that
// Bicep can read them (test/integration/consumers.test.ts checks the two are equal).
resource consumerRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (!empty(consumerAppTargets) || !empty(consumerContainerAppTargets)) {
  name: consumerRoleId
  properties: {
    roleName: consumerRoleName
    description: 'keyturn: make the apps that read a rotated secret pick up its new version (App Service Key Vault reference refresh, Container Apps revision restart) and read whether they did.'
    type: 'CustomRole'
    permissions: [
      {
        actions: loadJsonContent('consumer-role-actions.json')
        notActions: []
      }
    ]
    assignableScopes: union(
      [subscription().id],
      map(concat(consumerAppTargets, consumerContainerAppTargets), t => '/subscriptions/${t.?subscriptionId ?? thisSubscriptionId}')
    )
  }
}

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
  // The scopes inside this resource group must exist before roles are assigned on them.
  dependsOn: [
    storage
    monitoring
    notifyTopic
    email
    consumerRole
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
    apiAuthClientId: apiAuthClientId
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
  for v in vaults: {
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

@description('Communication Services endpoint (empty unless deployEmail).')
output KEYTURN_EMAIL_ENDPOINT string = deployEmail ? email.outputs.endpoint : ''

@description('Sender address on the Azure-managed domain (empty unless deployEmail).')
output KEYTURN_EMAIL_SENDER string = deployEmail ? email.outputs.senderAddress : ''
