metadata name = 'keyturn function app'
metadata description = 'Flex Consumption plan and Linux function app (Node 22) running as a user-assigned identity, with identity-based host storage, Entra-authenticated telemetry, optional App Service Authentication in front of the HTTP API, and every keyturn setting.'

@description('Required. Name of the function app.')
@minLength(2)
@maxLength(60)
param name string

@description('Required. Name of the Flex Consumption plan.')
@minLength(1)
@maxLength(60)
param planName string

@description('Optional. Location. Default: the resource group location.')
param location string = resourceGroup().location

@description('Optional. Tags for both resources. The app also gets azd-service-name.')
param tags object = {}

@description('Required. Value of the azd-service-name tag (the service name in azure.yaml).')
param serviceName string

@description('Required. Resource ID of the user-assigned identity the app runs as.')
param identityResourceId string

@description('Required. Client ID of that identity.')
param identityClientId string

@description('Required. Name of the app\'s storage account (in this resource group).')
param storageAccountName string

@description('Required. Container the platform deploys the package to.')
param deploymentContainerName string

@description('Required. Container for the engine\'s rotation locks (KEYTURN_LOCK_CONTAINER); keyturn holds Storage Blob Data Contributor on it.')
param lockContainerName string

@description('Required. Name of the Application Insights component (in this resource group).')
param appInsightsName string

@description('Required. Comma-separated vault URLs keyturn may act on (KEYTURN_VAULTS).')
param vaultUrls string

@description('Required. Publishing endpoint of the notification topic (KEYTURN_NOTIFY_TOPIC_ENDPOINT).')
param notifyTopicEndpoint string

@description('Required. Azure Resource Manager endpoint of this cloud, without a trailing slash (KEYTURN_ARM_ENDPOINT).')
param armEndpoint string

@description('Required. Microsoft Graph endpoint of this cloud, without a trailing slash (KEYTURN_GRAPH_ENDPOINT).')
param graphEndpoint string

@description('Required. Microsoft Entra authority host of this cloud, without a trailing slash (KEYTURN_AUTHORITY_HOST).')
param authorityHost string

@description('Optional. Minutes during which a fresh version is not rotated again (KEYTURN_ROTATION_GUARD_MINUTES).')
@minValue(0)
param rotationGuardMinutes int = 60

@description('Optional. This app\'s share of each vault\'s request limits, a decimal number: 1 = all of Key Vault\'s 300 writes and 4,000 other calls per 10 s per vault; less when other apps use the same vaults heavily; 0 = no pacing (KEYTURN_KEYVAULT_LIMIT_SCALE).')
param keyVaultLimitScale string = '1'

@description('Required. Comma-separated resource IDs of the allow-listed vaults, read by the posture audit (KEYTURN_VAULT_RESOURCE_IDS).')
param vaultResourceIds string

@description('Optional. NCRONTAB schedule of the sweep (KEYTURN_SWEEP_SCHEDULE); default daily at 03:00 UTC.')
param sweepSchedule string = '0 0 3 * * *'

@description('Optional. The audit flags secrets whose ValidityPeriodDays exceeds this (KEYTURN_AUDIT_MAX_VALIDITY_DAYS).')
@minValue(31)
param auditMaxValidityDays int = 365

@description('Optional. Log level (KEYTURN_LOG_LEVEL).')
@allowed([
  'debug'
  'info'
  'warn'
  'error'
])
param logLevel string = 'info'

@description('Optional. Node.js major version on Flex Consumption.')
@allowed([
  '20'
  '22'
])
param nodeVersion string = '22'

@description('Optional. Maximum instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Optional. Memory per instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Optional. Client ID of the Entra app registration that protects the HTTP API (App Service Authentication). Empty: authentication is not configured here and only function keys protect the API.')
param apiAuthClientId string = ''

@description('Optional. Communication Services endpoint for e-mail notifications (KEYTURN_EMAIL_ENDPOINT). Empty: no e-mail.')
param emailEndpoint string = ''

@description('Optional. Sender address for e-mail notifications (KEYTURN_EMAIL_SENDER). Set together with emailEndpoint.')
param emailSender string = ''

@description('Optional. Key Vault secret URI (versionless) holding the notification webhook URL, which is itself a credential. Set as a Key Vault reference (KEYTURN_NOTIFY_WEBHOOK_URL), resolved with the app\'s identity. Empty: no webhook.')
param notifyWebhookSecretUri string = ''

@description('Optional. Further app settings (no secrets: use Key Vault references or identities).')
param additionalAppSettings object = {}

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityResourceId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references in app settings resolve with the user-assigned identity.
    keyVaultReferenceIdentity: identityResourceId
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageAccount.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityResourceId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      // The language runtime is set here, not by FUNCTIONS_WORKER_RUNTIME: Flex
      // Consumption deprecates that app setting (see functions-app-settings,
      // "Flex Consumption plan deprecations").
      runtime: {
        name: 'node'
        version: nodeVersion
      }
    }
  }
}

// Every setting of local.settings.sample.json, in its Azure form
// (test/infra/infra.test.ts checks the two stay in step).
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(additionalAppSettings, {
    // Host storage through the identity: no connection string exists.
    AzureWebJobsStorage__accountName: storageAccount.name
    // The blob endpoint as the cloud names it (sovereign clouds differ); keyturn's
    // lock reads it before falling back to the account name.
    AzureWebJobsStorage__blobServiceUri: storageAccount.properties.primaryEndpoints.blob
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    // DefaultAzureCredential picks the user-assigned identity by this client ID.
    AZURE_CLIENT_ID: identityClientId
    // Telemetry is sent with the identity's token; the component refuses anything else.
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    KEYTURN_VAULTS: vaultUrls
    KEYTURN_NOTIFY_TOPIC_ENDPOINT: notifyTopicEndpoint
    KEYTURN_ARM_ENDPOINT: armEndpoint
    KEYTURN_GRAPH_ENDPOINT: graphEndpoint
    KEYTURN_AUTHORITY_HOST: authorityHost
    KEYTURN_CREDENTIAL: 'default'
    // Only the local test doubles need an extra CA; Azure endpoints chain to public roots.
    KEYTURN_TLS_CA_FILE: ''
    KEYTURN_ROTATION_GUARD_MINUTES: string(rotationGuardMinutes)
    KEYTURN_LOG_LEVEL: logLevel
    KEYTURN_LOCK_CONTAINER: lockContainerName
    KEYTURN_VAULT_RESOURCE_IDS: vaultResourceIds
    KEYTURN_SWEEP_SCHEDULE: sweepSchedule
    KEYTURN_AUDIT_MAX_VALIDITY_DAYS: string(auditMaxValidityDays)
    // Key Vault calls are paced to this share of each vault's limits (core/pacing.ts).
    KEYTURN_KEYVAULT_LIMIT_SCALE: keyVaultLimitScale
    // The app-role check trusts x-ms-client-principal, which only App Service
    // Authentication can vouch for: on exactly when authentication is configured here.
    KEYTURN_REQUIRE_APP_ROLES: empty(apiAuthClientId) ? 'false' : 'true'
    KEYTURN_EMAIL_ENDPOINT: emailEndpoint
    KEYTURN_EMAIL_SENDER: emailSender
    // A webhook URL carries its own credential: only ever a Key Vault reference here.
    KEYTURN_NOTIFY_WEBHOOK_URL: empty(notifyWebhookSecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${notifyWebhookSecretUri})'
  })
}

// Deployments go through Entra ID (azd, az functionapp deploy); no publishing passwords.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

// App Service Authentication in front of the HTTP API: callers need an Entra token for
// api://<client ID>; the code then checks the Rotation.Operator / Rotation.Reader app
// roles. Excluded: the runtime webhook, where Event Grid delivers with the extension's
// system key and no Entra token, and the anonymous routes of the route table
// (functions/routes.ts: health, for probes).
resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(apiAuthClientId)) {
  parent: functionApp
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      excludedPaths: [
        '/runtime/webhooks/eventgrid'
        '/api/health'
      ]
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: apiAuthClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          // v2 tokens carry the client ID as audience; v1 tokens the application ID URI.
          allowedAudiences: [
            apiAuthClientId
            'api://${apiAuthClientId}'
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

@description('Resource ID of the function app.')
output resourceId string = functionApp.id

@description('Name of the function app.')
output name string = functionApp.name

@description('Default host name of the function app.')
output defaultHostName string = functionApp.properties.defaultHostName
