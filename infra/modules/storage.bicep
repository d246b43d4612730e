metadata name = 'keyturn function storage'
metadata description = 'The function app\'s own storage account: host storage (AzureWebJobsStorage, identity-based), the Flex Consumption deployment container, the rotation lock container and the Event Grid dead-letter container. Shared keys are off.'

@description('Required. Name of the storage account (3-24 lower-case letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('Optional. Location of the storage account. Default: the resource group location.')
param location string = resourceGroup().location

@description('Optional. Tags for the storage account.')
param tags object = {}

@description('Optional. Replication SKU.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param skuName string = 'Standard_LRS'

@description('Required. Container the Flex Consumption platform deploys the app package to.')
param deploymentContainerName string

@description('Required. Container that holds the rotation locks (blob leases).')
param lockContainerName string

@description('Required. Container Event Grid writes undeliverable Key Vault events to.')
param deadLetterContainerName string

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    // Entra ID only: no account keys, no SAS signed with them. The host, the engine's
    // locks, the deployment package and Event Grid's dead letters all use identities.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storageAccount
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource lockContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: lockContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

@description('Resource ID of the storage account.')
output resourceId string = storageAccount.id

@description('Name of the storage account.')
output name string = storageAccount.name

@description('Blob endpoint of the storage account (no secret: access needs an Entra token).')
output blobEndpoint string = storageAccount.properties.primaryEndpoints.blob

@description('Name of the deployment container.')
output deploymentContainerName string = deploymentContainer.name

@description('Name of the lock container.')
output lockContainerName string = lockContainer.name

@description('Name of the dead-letter container.')
output deadLetterContainerName string = deadLetterContainer.name
