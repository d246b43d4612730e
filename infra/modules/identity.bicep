metadata name = 'keyturn user-assigned identity'
metadata description = 'A user-assigned managed identity. keyturn uses two: one the function app runs as, one the Key Vault system topics dead-letter with.'

@description('Required. Name of the identity.')
@minLength(3)
@maxLength(128)
param name string

@description('Optional. Location of the identity. Default: the resource group location.')
param location string = resourceGroup().location

@description('Optional. Tags for the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource ID of the identity.')
output resourceId string = identity.id

@description('Name of the identity.')
output name string = identity.name

@description('Object (principal) ID of the identity: the ID role assignments use.')
output principalId string = identity.properties.principalId

@description('Client (application) ID of the identity: the ID code and app settings use.')
output clientId string = identity.properties.clientId
