metadata name = 'keyturn e-mail (optional)'
metadata description = 'Azure Communication Services with an Email Communication Service and an Azure-managed sender domain, for owner notifications by e-mail.'

@description('Required. Name of the Communication Services resource.')
@minLength(1)
@maxLength(63)
param communicationServiceName string

@description('Required. Name of the Email Communication Service resource.')
@minLength(1)
@maxLength(63)
param emailServiceName string

@description('Required. Where Communication Services stores data at rest, e.g. Europe or United States.')
param dataLocation string

@description('Optional. Tags.')
param tags object = {}

// Communication Services resources are global; dataLocation decides where data rests.
resource emailService 'Microsoft.Communication/emailServices@2023-04-01' = {
  name: emailServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
  }
}

resource managedDomain 'Microsoft.Communication/emailServices/domains@2023-04-01' = {
  parent: emailService
  name: 'AzureManagedDomain'
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'AzureManaged'
    userEngagementTracking: 'Disabled'
  }
}

resource communicationService 'Microsoft.Communication/communicationServices@2023-04-01' = {
  name: communicationServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
    linkedDomains: [
      managedDomain.id
    ]
  }
}

@description('Resource ID of the Communication Services resource.')
output communicationServiceResourceId string = communicationService.id

@description('Endpoint of the Communication Services resource (for @azure/communication-email with an Entra credential).')
output endpoint string = 'https://${communicationService.properties.hostName}'

@description('Sender address on the Azure-managed domain.')
output senderAddress string = 'DoNotReply@${managedDomain.properties.fromSenderDomain}'
